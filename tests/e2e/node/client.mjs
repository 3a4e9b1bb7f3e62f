#!/usr/bin/env node
// A small MCP client built on the official TypeScript SDK (Client + StdioClientTransport or
// StreamableHTTPClientTransport), used by tests/e2e/test_ts_sdk_client.py and tests/e2e/test_mcp_http.py
// to drive a real relay-stdio, or relay-web's /mcp, the way a third-party client would.
//
// Usage: node client.mjs '<spec JSON>'   (or the spec on stdin when no argument is given)
//
// The spec: {
//   "command": "/path/to/relay-stdio", "args": [...], "env": {...}, "cwd": "...",   // stdio, or
//   "url": "http://127.0.0.1:8010/mcp", "headers": {"Authorization": "Bearer ..."}, // Streamable HTTP
//   "clientName": "claude-code", "clientVersion": "2.1.0",
//   "protocolVersion": "2025-11-25",            // offered in initialize (default: the SDK's latest)
//   "listAll": true,                            // also list resources, resource templates, prompts
//   "stream": true,                             // print each progress notification as it arrives
//   "calls": [{"name": "post_message", "arguments": {...}},     // a tool call
//             {"resource": "relay://channel/proj-x"},           // resources/read
//             {"prompt": "review_packet", "arguments": {...}}]  // prompts/get
// }
// It connects, lists the tools, makes each call in order and prints one JSON document on stdout:
// {"initialize": {offered, negotiated, serverInfo, instructions}, "tools": [...], "calls": [...]}.
// A tool call's progress notifications are in its "progress"; with "stream", each is also printed
// at once as a line {"progress": {...}} before the document, which is then the last line.
// A tool error is a result with isError: true, not a failure; anything else exits non-zero.
import { readFileSync } from "node:fs";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
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
  if ((typeof spec.command !== "string" && typeof spec.url !== "string") || !Array.isArray(spec.calls ?? [])) {
    throw new Error('the spec needs "command" or "url" (a string) and "calls" (a list)');
  }
  return spec;
}

function makeTransport(spec) {
  if (spec.url) {
    return new StreamableHTTPClientTransport(new URL(spec.url), { requestInit: { headers: spec.headers ?? {} } });
  }
  return new StdioClientTransport({
    command: spec.command,
    args: spec.args ?? [],
    // Like Codex, the SDK passes only a few inherited variables (HOME, PATH, ...) plus these.
    env: spec.env ?? {},
    cwd: spec.cwd,
    stderr: "inherit",
  });
}

async function makeCall(client, call, stream) {
  if (call.resource) {
    return { resource: call.resource, contents: (await client.readResource({ uri: call.resource })).contents };
  }
  if (call.prompt) {
    const got = await client.getPrompt({ name: call.prompt, arguments: call.arguments ?? {} });
    return { prompt: call.prompt, messages: got.messages };
  }
  const progress = [];
  const onprogress = (event) => {
    progress.push(event);
    if (stream) process.stdout.write(JSON.stringify({ progress: event, name: call.name }) + "\n");
  };
  // callTool also checks structuredContent against the tool's outputSchema (after listTools).
  const result = await client.callTool({ name: call.name, arguments: call.arguments ?? {} }, undefined, {
    onprogress,
    resetTimeoutOnProgress: true,
  });
  return {
    name: call.name,
    arguments: call.arguments ?? {},
    isError: result.isError ?? false,
    structuredContent: result.structuredContent ?? null,
    content: result.content,
    progress,
  };
}

async function main() {
  const spec = readSpec();
  const offered = spec.protocolVersion ?? LATEST_PROTOCOL_VERSION;
  const transport = new OfferingTransport(makeTransport(spec), offered);
  const client = new Client({ name: spec.clientName ?? "ts-sdk-client", version: spec.clientVersion ?? "1.0.0" });
  await client.connect(transport);
  try {
    const tools = (await client.listTools()).tools;
    const listed = spec.listAll
      ? {
          resources: (await client.listResources()).resources,
          resourceTemplates: (await client.listResourceTemplates()).resourceTemplates,
          prompts: (await client.listPrompts()).prompts,
        }
      : {};
    const calls = [];
    for (const call of spec.calls ?? []) {
      calls.push(await makeCall(client, call, spec.stream));
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
      ...listed,
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
