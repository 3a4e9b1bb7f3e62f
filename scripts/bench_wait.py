#!/usr/bin/env python3
"""Delivery latency of wait_for_messages: a post in one process to the tool's return in another.

A real relay-stdio process (started over stdio by the official MCP client) waits on a channel; a
separate poster process appends a message as soon as the wait has begun (signalled by the tool's first
progress notification). Latency = the moment the client has the result - the message's own ``ts``
(stamped by the poster when it appended). Repeated ``--messages`` times; prints the median, p90, p99 and
max, and the CPU an idle waiter costs.

    .venv/bin/python scripts/bench_wait.py --messages 300
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import anyio
from mcp import Client, StdioServerParameters

POSTER = """
import sys, random, time
from shared.storage.files.store import FileStore
store = FileStore(sys.argv[1])
for line in sys.stdin:
    time.sleep(random.uniform(0, 0.1))  # post at a random moment of the waiter's poll cycle
    store.append("bench", "poster", "ping " + line.strip())
"""


def relay_stdio() -> list[str]:
    script = Path(sys.executable).with_name("relay-stdio")
    return [str(script)] if script.exists() else [sys.executable, "-m", "relay_stdio"]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def find_server_pid(data_dir: Path) -> int | None:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if str(data_dir).encode() in cmdline and any(b"relay" in part for part in cmdline[:2]):
                return int(entry.name)
    return None


async def run(count: int, idle_s: float, data_dir: Path) -> dict[str, float]:
    env = {**os.environ, "CLAUDE_CODEX_DATA_DIR": str(data_dir)}
    command = relay_stdio()
    params = StdioServerParameters(
        command=command[0], args=[*command[1:], "--sender", "waiter", "--data-dir", str(data_dir)], env=env
    )
    poster = subprocess.Popen(
        [sys.executable, "-c", POSTER, str(data_dir)], stdin=subprocess.PIPE, text=True, env=env
    )
    assert poster.stdin is not None
    latencies: list[float] = []
    try:
        async with Client(params) as client:
            for i in range(count):
                asked = False

                async def go(progress: float, total: float | None, message: str | None, n: int = i) -> None:
                    nonlocal asked
                    if not asked:  # the wait has begun: post now, from the other process
                        asked = True
                        assert poster.stdin is not None
                        poster.stdin.write(f"{n}\n")
                        poster.stdin.flush()

                result = await client.call_tool(
                    "wait_for_messages", {"target": "bench", "timeout_s": 30}, progress_callback=go
                )
                received = time.time()
                messages = (result.structured_content or {}).get("messages", [])
                if len(messages) != 1 or messages[0]["text"] != f"ping {i}":
                    raise SystemExit(f"round {i}: unexpected result {result}")
                latencies.append(received - messages[0]["ts"])
            idle = {}
            pid = find_server_pid(data_dir) if Path("/proc").is_dir() else None
            if pid is not None and idle_s > 0:
                before = cpu_seconds(pid)
                await client.call_tool("wait_for_messages", {"target": "quiet", "timeout_s": idle_s})
                idle["idle_cpu_percent"] = 100 * (cpu_seconds(pid) - before) / idle_s
    finally:
        poster.stdin.close()
        poster.wait(timeout=30)
    ms = sorted(x * 1000 for x in latencies)
    return {
        "messages": len(ms),
        "median_ms": statistics.median(ms),
        "p90_ms": ms[int(0.90 * (len(ms) - 1))],
        "p99_ms": ms[int(0.99 * (len(ms) - 1))],
        "max_ms": ms[-1],
        **idle,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=300, help="how many posts to time (default 300)")
    parser.add_argument("--idle-seconds", type=float, default=10, help="idle wait for the CPU figure")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="relay-bench-") as tmp:
        result = anyio.run(run, args.messages, args.idle_seconds, Path(tmp))
    if args.json:
        print(json.dumps(result))
        return
    print(f"wait_for_messages delivery latency over {result['messages']} posts from another process:")
    print(
        f"  median {result['median_ms']:.1f} ms, p90 {result['p90_ms']:.1f} ms, "
        f"p99 {result['p99_ms']:.1f} ms, max {result['max_ms']:.1f} ms"
    )
    if "idle_cpu_percent" in result:
        print(f"  an idle waiter costs {result['idle_cpu_percent']:.2f}% of one core")


if __name__ == "__main__":
    main()
