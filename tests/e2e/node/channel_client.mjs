#!/usr/bin/env node
// A long-lived MCP client on the official TypeScript SDK that records every notification the server
// sends, for tests/e2e/test_channels.py (Claude Code channels: notifications/claude/channel).
//
// Usage: node channel_client.mjs '<spec JSON>'
//   spec: {"command", "args", "env", "cwd", "clientName", "clientVersion"}
// Talks JSON lines. On stdout, one event per line:
//   {"event": "ready", "capabilities": {...}, "instructions": "..."}       once connected
//   {"event": "notification", "method", "params", "received_ms"}          each notification (epoch ms)
//   {"event": "progress", "seq", "progress"}                               a call's progress (waits)
//   {"event": "result", "seq", "name", "isError", "structuredContent", "content"}   each call's answer
// On stdin, one call per line: {"seq": 1, "name": "post_message", "arguments": {...}}.
// End of stdin closes the connection and exits.
import { createInterface } from "node:readline";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

function emit(event) {
  process.stdout.write(JSON.stringify(event) + "\n");
}

async function main() {
  const spec = JSON.parse(process.argv[2]);
  const transport = new StdioClientTransport({
    command: spec.command,
    args: spec.args ?? [],
    env: spec.env ?? {},
    cwd: spec.cwd,
    stderr: "inherit",
  });
  const client = new Client({ name: spec.clientName ?? "ts-sdk-client", version: spec.clientVersion ?? "1.0.0" });
  // performance.timeOrigin + now() is epoch time with sub-millisecond resolution.
  client.fallbackNotificationHandler = async (notification) => {
    emit({
      event: "notification",
      method: notification.method,
      params: notification.params ?? null,
      received_ms: performance.timeOrigin + performance.now(),
    });
  };
  await client.connect(transport);
  emit({ event: "ready", capabilities: client.getServerCapabilities() ?? {}, instructions: client.getInstructions() ?? "" });
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (!line.trim()) continue;
    const call = JSON.parse(line);
    // Calls run one after another; asking for progress shows the test when a wait has started.
    const onprogress = (progress) => emit({ event: "progress", seq: call.seq ?? null, progress });
    const result = await client.callTool({ name: call.name, arguments: call.arguments ?? {} }, undefined, {
      onprogress,
      resetTimeoutOnProgress: true,
    });
    emit({
      event: "result",
      seq: call.seq ?? null,
      name: call.name,
      isError: result.isError ?? false,
      structuredContent: result.structuredContent ?? null,
      content: result.content,
    });
  }
  await client.close();
}

main().catch((error) => {
  process.stderr.write(`channel_client.mjs: ${error?.stack ?? error}\n`);
  process.exit(1);
});
