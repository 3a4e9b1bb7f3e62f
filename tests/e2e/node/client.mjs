#!/usr/bin/env node
// A small MCP client built on the official TypeScript SDK (Client + StdioClientTransport), used by
// tests/e2e/test_ts_sdk_client.py to drive a real relay-stdio the way a third-party client would.
//
// Usage: node client.mjs '<spec JSON>'   (or the spec on stdin when no argument is given)
//
// The spec: {
//   "command": "/path/to/relay-stdio", "args": [...], "env": {...}, "cwd": "...",
//   "clientName": "claude-code", "clientVersion": "2.1.0",
//   "protocolVersion": "2025-11-25",            // offered in initialize (default: the SDK's latest)
//   "calls": [{"name": "post_message", "arguments": {...}}, ...]
// }
// It connects, lists the tools, makes each call in order and prints one JSON document on stdout:
// {"initialize": {offered, negotiated, serverInfo, instructions}, "tools": [...], "calls": [...]}.
// A tool error is a result with isError: true, not a failure; anything else exits non-zero.
import { readFileSync } from "node:fs";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { LATEST_PROTOCOL_VERSION } from "@modelcontextprotocol/sdk/types.js";

/**
 * Wraps a transport to offer a chosen protocol version in `initialize` and to record the server's
 * answer. The SDK client always offers its latest version; Codex offers an older one, so this lets
 * one script stand in for both.
 */
class OfferingTransport {
  constructor(inner, offered) {
    this.inner = inner;
    this.offered = offered;
    this.initializeResult = undefined;
    this.onclose = undefined;
    this.onerror = undefined;
    this.onmessage = undefined;
  }

  async start() {
    this.inner.onclose = () => this.onclose?.();
    this.inner.onerror = (error) => this.onerror?.(error);
    this.inner.onmessage = (message, extra) => {
      if (message.id === this.initializeId && message.result) {
        this.initializeResult = message.result;
      }
      this.onmessage?.(message, extra);
    };
    await this.inner.start();
  }

  async send(message, options) {
    if (message.method === "initialize") {
      this.initializeId = message.id;
      message = { ...message, params: { ...message.params, protocolVersion: this.offered } };
    }
    await this.inner.send(message, options);
  }

  async close() {
    await this.inner.close();
  }

  get sessionId() {
    return this.inner.sessionId;
  }

  setProtocolVersion(version) {
    this.inner.setProtocolVersion?.(version);
  }
}

function readSpec() {
  const text = process.argv[2] ?? readFileSync(0, "utf8");
  const spec = JSON.parse(text);
  if (typeof spec.command !== "string" || !Array.isArray(spec.calls ?? [])) {
    throw new Error('the spec needs "command" (a string) and "calls" (a list)');
  }
  return spec;
}

async function main() {
  const spec = readSpec();
  const offered = spec.protocolVersion ?? LATEST_PROTOCOL_VERSION;
  const transport = new OfferingTransport(
    new StdioClientTransport({
      command: spec.command,
      args: spec.args ?? [],
      // Like Codex, the SDK passes only a few inherited variables (HOME, PATH, ...) plus these.
      env: spec.env ?? {},
      cwd: spec.cwd,
      stderr: "inherit",
    }),
    offered,
  );
  const client = new Client({ name: spec.clientName ?? "ts-sdk-client", version: spec.clientVersion ?? "1.0.0" });
  await client.connect(transport);
  try {
    const tools = (await client.listTools()).tools;
    const calls = [];
    for (const call of spec.calls ?? []) {
      // callTool also checks structuredContent against the tool's outputSchema (after listTools).
      const result = await client.callTool({ name: call.name, arguments: call.arguments ?? {} });
      calls.push({
        name: call.name,
        arguments: call.arguments ?? {},
        isError: result.isError ?? false,
        structuredContent: result.structuredContent ?? null,
        content: result.content,
      });
    }
    const init = transport.initializeResult ?? {};
    const report = {
      initialize: {
        offered,
        negotiated: init.protocolVersion ?? null,
        serverInfo: client.getServerVersion() ?? null,
        instructions: client.getInstructions() ?? null,
      },
      tools,
      calls,
    };
    process.stdout.write(JSON.stringify(report) + "\n");
  } finally {
    await client.close();
  }
}

main().catch((error) => {
  process.stderr.write(`client.mjs: ${error?.stack ?? error}\n`);
  process.exit(1);
});
