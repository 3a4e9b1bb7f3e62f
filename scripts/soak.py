#!/usr/bin/env python3
"""Soak run: agents posting, fetching and waiting through real relay-stdio processes while viewer
clients poll a real relay-web, for a set time; then every message is checked.

Each agent is a real ``relay-stdio`` driven by the official MCP Python client; it posts, fetches from
its saved position and waits for the others' posts. Each viewer polls ``GET /api/messages?since_id=``
of a real ``relay-web``. At the end:

- no call failed;
- the channel holds ids 1..N in order, and every acknowledged post is there exactly once with its text;
- every agent's fetches, and every viewer's polls, saw each message exactly once and in order;
- memory stayed flat: for every relay process, the median RSS of the last quarter of samples is within
  ``--rss-slack-mb`` of the median of the second quarter (the first quarter is warm-up).

    .venv/bin/python scripts/soak.py --seconds 60 --agents 3 --viewers 5 [--json soak.json]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters

CHANNEL = "soak"


@dataclass
class Tally:
    posted: dict[int, str] = field(default_factory=dict)  # acknowledged posts: id -> text
    errors: list[str] = field(default_factory=list)
    fetched: dict[str, list[int]] = field(default_factory=dict)  # reader -> ids in the order seen
    waits: int = 0
    woken: int = 0
    polls: int = 0
    rss: dict[int, list[float]] = field(default_factory=dict)
    guard: threading.Lock = field(default_factory=threading.Lock)


def _bin(name: str) -> list[str]:
    script = Path(sys.executable).with_name(name)
    module = name.replace("-", "_")
    return [str(script)] if script.exists() else [sys.executable, "-m", module]


def _rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _relay_pids(data_dir: Path) -> list[int]:
    """The relay-stdio and relay-web processes serving ``data_dir`` (found by their command lines)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if str(data_dir).encode() in cmdline and any(b"relay" in part for part in cmdline[:3]):
            pids.append(int(entry.name))
    return pids


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_web(data_dir: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    proc = subprocess.Popen(
        [*_bin("relay-web"), "--data-dir", str(data_dir), "--port", str(_free_port())],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    for raw in proc.stdout:
        line = raw.decode()
        if "serving on" in line:
            url = line.split("serving on", 1)[1].split()[0].rstrip("/")
            return proc, url
        if time.monotonic() > deadline:
            break
    proc.kill()
    raise SystemExit("relay-web did not start")


async def _agent(index: int, data_dir: Path, env: dict[str, str], deadline: float, tally: Tally) -> None:
    name = f"agent-{index}"
    command = _bin("relay-stdio")
    params = StdioServerParameters(
        command=command[0], args=[*command[1:], "--data-dir", str(data_dir), "--sender", name], env=env
    )
    seen: list[int] = []
    tally.fetched[name] = seen
    async with Client(params) as client:
        n = 0
        while time.monotonic() < deadline:
            n += 1
            text = f"{name} message {n}: " + "payload " * (n % 40)
            try:
                posted = await client.call_tool("post_message", {"target": CHANNEL, "text": text})
                if posted.is_error or posted.structured_content is None:
                    raise RuntimeError(f"post failed: {posted.content}")
                with tally.guard:
                    tally.posted[posted.structured_content["posted"]] = text
                fetched = await client.call_tool("fetch_messages", {"target": CHANNEL, "limit": 200})
                if fetched.is_error or fetched.structured_content is None:
                    raise RuntimeError(f"fetch failed: {fetched.content}")
                seen.extend(m["id"] for m in fetched.structured_content["messages"])
                if n % 5 == 0:  # wait for someone else, from an explicit id so the position is untouched
                    waited = await client.call_tool(
                        "wait_for_messages",
                        {"target": CHANNEL, "since_id": seen[-1] if seen else 0, "timeout_s": 1},
                    )
                    if waited.is_error or waited.structured_content is None:
                        raise RuntimeError(f"wait failed: {waited.content}")
                    with tally.guard:
                        tally.waits += 1
                        tally.woken += bool(waited.structured_content["messages"])
            except Exception as exc:  # noqa: BLE001 - every failure is counted and reported
                with tally.guard:
                    tally.errors.append(f"{name}: {exc!r}")
                await anyio.sleep(0.1)
        # Drain: what was posted until the end must all reach this agent's saved position.
        await anyio.sleep(0.5)
        while True:
            fetched = await client.call_tool("fetch_messages", {"target": CHANNEL, "limit": 200})
            assert fetched.structured_content is not None
            batch = fetched.structured_content["messages"]
            seen.extend(m["id"] for m in batch)
            if not batch:
                break


def _viewer(index: int, base: str, deadline: float, tally: Tally) -> None:
    seen: list[int] = []
    tally.fetched[f"viewer-{index}"] = seen
    since = 0
    drain_until = deadline + 2.0
    while time.monotonic() < drain_until:
        try:
            url = f"{base}/api/messages?target={CHANNEL}&since_id={since}&limit=500"
            with urllib.request.urlopen(url, timeout=30) as response:
                got = json.loads(response.read())
            seen.extend(m["id"] for m in got["messages"])
            since = got["latest_id"]
            with tally.guard:
                tally.polls += 1
        except Exception as exc:  # noqa: BLE001 - counted and reported
            with tally.guard:
                tally.errors.append(f"viewer-{index}: {exc!r}")
        time.sleep(0.2)


def _sampler(data_dir: Path, stop: threading.Event, tally: Tally) -> None:
    while not stop.is_set():
        for pid in _relay_pids(data_dir):
            rss = _rss_mb(pid)
            if rss is not None:
                tally.rss.setdefault(pid, []).append(rss)
        stop.wait(0.5)


def _check(data_dir: Path, tally: Tally, rss_slack_mb: float) -> dict[str, Any]:
    problems = list(tally.errors)
    lines = (data_dir / "channels" / f"{CHANNEL}.jsonl").read_bytes().splitlines()
    records = [json.loads(line) for line in lines]
    ids = [r["id"] for r in records]
    if ids != list(range(1, len(ids) + 1)):
        problems.append("channel ids are not 1..N in file order")
    by_id = {r["id"]: r for r in records}
    for posted_id, text in tally.posted.items():
        if by_id.get(posted_id, {}).get("text") != text:
            problems.append(f"acknowledged post #{posted_id} is missing or changed")
    texts = [r["text"] for r in records]
    if len(set(texts)) != len(texts):
        problems.append("a message is stored twice")
    extra = set(by_id) - set(tally.posted)
    if extra:
        problems.append(f"{len(extra)} stored messages were never acknowledged (e.g. #{min(extra)})")
    for reader, seen in tally.fetched.items():
        if seen != list(range(1, len(seen) + 1)) or len(seen) != len(ids):
            problems.append(f"{reader} saw {len(seen)} messages, not each of the {len(ids)} once in order")
    memory = {}
    for pid, samples in tally.rss.items():
        if len(samples) < 8:
            continue
        quarter = len(samples) // 4
        early = statistics.median(samples[quarter : 2 * quarter])
        late = statistics.median(samples[-quarter:])
        memory[str(pid)] = {"early_mb": round(early, 1), "late_mb": round(late, 1), "samples": len(samples)}
        if late - early > rss_slack_mb:
            problems.append(f"process {pid} grew from {early:.1f} MB to {late:.1f} MB")
    return {
        "messages": len(ids),
        "acknowledged_posts": len(tally.posted),
        "messages_checked_per_reader": len(ids),
        "readers": len(tally.fetched),
        "waits": tally.waits,
        "waits_woken": tally.woken,
        "viewer_polls": tally.polls,
        "errors": len(tally.errors),
        "memory": memory,
        "problems": problems,
    }


async def _run_agents(count: int, data_dir: Path, env: dict[str, str], deadline: float, tally: Tally) -> None:
    async with anyio.create_task_group() as group:
        for index in range(count):
            group.start_soon(_agent, index, data_dir, env, deadline, tally)


def soak(seconds: float, agents: int, viewers: int, data_dir: Path, rss_slack_mb: float) -> dict[str, Any]:
    env = {**os.environ, "CLAUDE_CODEX_DATA_DIR": str(data_dir)}
    tally = Tally()
    web, base = _start_web(data_dir, env)
    stop = threading.Event()
    deadline = time.monotonic() + seconds
    threads = [threading.Thread(target=_viewer, args=(i, base, deadline, tally)) for i in range(viewers)]
    threads.append(threading.Thread(target=_sampler, args=(data_dir, stop, tally)))
    try:
        for thread in threads:
            thread.start()
        anyio.run(_run_agents, agents, data_dir, env, deadline, tally)
        for thread in threads[:-1]:
            thread.join(timeout=60)
    finally:
        stop.set()
        threads[-1].join(timeout=10)
        web.terminate()
        web.wait(timeout=20)
        if web.stdout is not None:
            web.stdout.close()
    return _check(data_dir, tally, rss_slack_mb)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60, help="how long the agents post (default 60)")
    parser.add_argument("--agents", type=int, default=3, help="relay-stdio agents (default 3)")
    parser.add_argument("--viewers", type=int, default=5, help="viewer clients polling relay-web (default 5)")
    parser.add_argument("--rss-slack-mb", type=float, default=10.0, help="allowed memory growth (default 10)")
    parser.add_argument("--data-dir", type=Path, help="store to use (default: a new temporary folder)")
    parser.add_argument("--json", type=Path, help="write the result here as JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="relay-soak-") as tmp:
        data_dir = (args.data_dir or Path(tmp) / "data").resolve()
        result = soak(args.seconds, args.agents, args.viewers, data_dir, args.rss_slack_mb)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    print(
        f"soak: {result['messages']} messages from {args.agents} agents in {args.seconds:g} s, each checked "
        f"through {result['readers']} readers; {result['waits']} waits ({result['waits_woken']} woken), "
        f"{result['viewer_polls']} viewer polls, {result['errors']} errors"
    )
    for pid, mem in result["memory"].items():
        print(f"  process {pid}: {mem['early_mb']} MB -> {mem['late_mb']} MB over {mem['samples']} samples")
    for problem in result["problems"]:
        print(f"  PROBLEM: {problem}")
    print("soak: OK" if not result["problems"] else "soak: FAILED")
    return 0 if not result["problems"] else 1


if __name__ == "__main__":
    sys.exit(main())
