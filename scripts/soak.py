#!/usr/bin/env python3
"""Soak run: agents post, fetch and wait while viewers poll, for a while; then nothing may be wrong.

Each agent is a real ``relay-stdio`` process driven by the official MCP Python client: it posts
(texts of 1 to 2,000 characters of mixed-width Unicode and Markdown), fetches by ``since_id`` and from
its saved position, and calls ``wait_for_messages``. Each viewer polls a real ``relay-web`` as the
page and ``scripts/review-poll.sh`` do (``/api/messages?since_id``, the page's live updates, the
channel list, the page itself). At the end it checks:

- no error: every call succeeded, every answer had the documented shape;
- every post that returned is in the store exactly once, by id, with its exact text and sender; the
  channel files are valid JSONL with ids 1..N; no text is stored twice;
- every message anyone saw (fetch, wait, viewer) is the stored one; every read was contiguous;
- every waiter saw what it should: a wait that began after another agent's post had returned,
  unseen by the waiter, must return at least that message (an empty answer is a failure);
- memory is flat: each process's RSS (and open file count) sampled every second; after a warm-up
  quarter, the median of the last quarter may exceed the median of the second by at most
  max(MEMORY_SLACK_MB, 5 %). Medians ignore a collection pause or a burst; a leak of one KB per
  message grows past that over the thousands of messages of a minute. relay-web keeps a cache of
  rendered messages, bounded (16 MiB) but growing until full, so before the run it is filled to its
  bound (a seed channel of large messages, rendered once): what grows after that is not the cache.
  The servers run with MALLOC_ARENA_MAX=2 (unless set): glibc's default of an arena per thread adds
  some 35 MB to relay-web's eight threads and lets its RSS creep by fragmentation for minutes
  (7 MB in a minute here), which would hide a leak; with two arenas it stays within 1 MB.

    .venv/bin/python scripts/soak.py --seconds 60 --agents 4 --viewers 3 --json soak.json

Exit status 0 when every check passed, 1 otherwise (the summary says which). Linux only (reads /proc).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import selectors
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters

from shared.storage.files.store import FileStore

CHANNELS = ["soak-a", "soak-b", "soak-c"]
SEED_CHANNEL, SEED_MESSAGES = "soak-seed", 400  # 400 x ~48 KB rendered: more than the render cache holds
MEMORY_SLACK_MB = 5.0
ALPHABET = "abc xyz ÄÖü é ß ж 中文 한국 🎉 👩‍💻 \u200f עברית *em* `c` [l](https://example.com) #\n"


class Ledger:
    """What the clients did and saw; shared by the agent tasks and the viewer threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.acked: dict[tuple[str, int], tuple[str, str]] = {}
        self.seen: dict[tuple[str, int], tuple[str, str]] = {}
        self.errors: list[str] = []
        self.counts: Counter[str] = Counter()

    def error(self, text: str) -> None:
        with self.lock:
            self.errors.append(text)

    def count(self, name: str, amount: int = 1) -> None:
        with self.lock:
            self.counts[name] += amount

    def saw(self, who: str, target: str, messages: list[dict[str, Any]], after: int) -> None:
        """Record messages read after id ``after``: contiguous, ordered, and the same for everyone."""
        ids = [m["id"] for m in messages]
        if ids and ids != list(range(after + 1, after + 1 + len(ids))):
            self.error(f"{who}: {target} read after {after} gave ids {ids[:5]}...")
        with self.lock:
            for m in messages:
                key, value = (target, m["id"]), (m["sender"], m["text"])
                if self.seen.setdefault(key, value) != value:
                    self.errors.append(f"{who}: {target} #{m['id']} differs between readers")
            self.counts["messages_read"] += len(messages)


def server_env(home: Path) -> dict[str, str]:
    return {"MALLOC_ARENA_MAX": "2", **os.environ, "HOME": str(home)}


def program(name: str) -> list[str]:
    script = Path(sys.executable).with_name(name)
    return [str(script)] if script.exists() else [sys.executable, "-m", name.replace("-", "_")]


def random_text(rng: random.Random, sender: str, seq: int) -> str:
    body = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 2000)))
    return f"{sender} #{seq}: {body}"


async def agent(index: int, data_dir: Path, deadline: float, ledger: Ledger, seed: int, home: Path) -> None:
    sender = f"agent-{index}"
    rng = random.Random(seed + index)
    params = StdioServerParameters(
        command=program("relay-stdio")[0],
        args=[*program("relay-stdio")[1:], "--data-dir", str(data_dir), "--sender", sender],
        env=server_env(home),
    )
    known = dict.fromkeys(CHANNELS, 0)  # the last id this agent has read, per channel
    saved = dict.fromkeys(CHANNELS, 0)  # its saved read position (fetch without since_id)
    seq = 0
    async with Client(params) as client:

        async def call(tool: str, args: dict[str, Any]) -> dict[str, Any]:
            result = await client.call_tool(tool, args)
            ledger.count(f"calls.{tool}")
            if result.is_error:
                raise RuntimeError(f"{sender}: {tool}({args}) failed: {result.content}")
            return dict(result.structured_content or {})

        while time.monotonic() < deadline:
            target = rng.choice(CHANNELS)
            action = rng.choices(["post", "fetch", "fetch_saved", "wait"], [5, 2, 1, 2])[0]
            try:
                if action == "post":
                    seq += 1
                    text = random_text(rng, sender, seq)
                    got = await call("post_message", {"target": target, "text": text})
                    message = got["message"]
                    if (message["text"], message["sender"], got["posted"]) != (text, sender, message["id"]):
                        ledger.error(f"{sender}: post answered {message}")
                    with ledger.lock:
                        ledger.acked[(target, got["posted"])] = (sender, text)
                elif action == "fetch":
                    limit = rng.choice([1, 10, 50, 200])
                    got = await call(
                        "fetch_messages", {"target": target, "since_id": known[target], "limit": limit}
                    )
                    ledger.saw(sender, target, got["messages"], known[target])
                    known[target] = max(known[target], got["latest_id"])
                elif action == "fetch_saved":
                    got = await call("fetch_messages", {"target": target})
                    ledger.saw(sender, target, got["messages"], saved[target])
                    saved[target] = got["latest_id"]
                else:
                    await wait(call, ledger, sender, target, known, rng)
            except Exception as exc:  # noqa: BLE001  (the soak reports every failure, then goes on)
                ledger.error(f"{sender}: {action} on {target}: {exc}")


async def wait(
    call, ledger: Ledger, sender: str, target: str, known: dict[str, int], rng: random.Random
) -> None:  # type: ignore[no-untyped-def]
    since = known[target]
    with ledger.lock:
        owed = sorted(
            i for (t, i), (who, _) in ledger.acked.items() if t == target and i > since and who != sender
        )
    got = await call(
        "wait_for_messages", {"target": target, "since_id": since, "timeout_s": rng.uniform(0.2, 2)}
    )
    messages = got["messages"]
    ledger.count("waits")
    ledger.count("waits_answered", bool(messages))
    if owed and not messages:
        ledger.error(f"{sender}: wait on {target} after {since} returned nothing, but #{owed[0]} was there")
    if owed and messages and messages[0]["id"] > owed[0]:
        ledger.error(f"{sender}: wait on {target} skipped #{owed[0]}")
    if any(m["sender"] == sender or m["id"] <= since for m in messages):
        ledger.error(f"{sender}: wait returned its own or old messages")
    if messages:  # own messages are left out, so ids may have gaps: check each against the others
        with ledger.lock:
            for m in messages:
                value = (m["sender"], m["text"])
                if ledger.seen.setdefault((target, m["id"]), value) != value:
                    ledger.errors.append(f"{sender}: wait saw a different #{m['id']}")
            ledger.counts["messages_read"] += len(messages)
        known[target] = max(since, got["latest_id"])


def viewer(index: int, base: str, deadline: float, ledger: Ledger, seed: int) -> None:
    rng = random.Random(seed * 7 + index)
    api = dict.fromkeys(CHANNELS, 0)
    page = dict.fromkeys(CHANNELS, 0)
    who = f"viewer-{index}"

    def get(path: str) -> bytes:
        with urllib.request.urlopen(base + path, timeout=30) as response:
            ledger.count("viewer_requests")
            return bytes(response.read())

    while time.monotonic() < deadline:
        target = rng.choice(CHANNELS)
        try:
            got = json.loads(get(f"/api/messages?target={target}&since_id={api[target]}&limit=500"))
            ledger.saw(who, target, got["messages"], api[target])
            api[target] = got["latest_id"]
            updates = json.loads(get(f"/ui/channels/{target}/updates?since_id={page[target]}"))
            ids = [m["id"] for m in updates["messages"]]
            if ids != list(range(page[target] + 1, page[target] + 1 + len(ids))):
                ledger.error(f"{who}: live updates of {target} after {page[target]} gave {ids[:5]}")
            if any(f'id="m-{i}"' not in m["html"] for i, m in zip(ids, updates["messages"], strict=True)):
                ledger.error(f"{who}: a live update of {target} is not its message")
            page[target] = updates["latest_id"]
            if rng.random() < 0.1:
                listed = set(json.loads(get("/api/channels"))["channels"])
                # Only channels this viewer has already seen messages in must exist; the others may
                # not have had their first post yet.
                missing = sorted(name for name in CHANNELS if api[name] and name not in listed)
                if missing:
                    ledger.error(f"{who}: the channel list lacks {', '.join(missing)}")
            if rng.random() < 0.05:
                get(f"/channels/{target}")
        except Exception as exc:  # noqa: BLE001  (the soak reports every failure, then goes on)
            ledger.error(f"{who}: {exc}")
        time.sleep(rng.uniform(0.1, 0.5))


def process_stats(pid: int) -> tuple[float, int] | None:
    """(RSS in MiB, open files) of a live process, from /proc."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        files = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None
    rss_kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
    return rss_kb / 1024, files


def relay_processes(data_dir: Path) -> dict[int, str]:
    """pid -> name of every relay-stdio and relay-web serving this data dir."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        if str(data_dir) in argv and any("relay" in part for part in argv[:3]):
            sender = argv[argv.index("--sender") + 1] if "--sender" in argv else None
            found[int(entry.name)] = f"relay-stdio {sender}" if sender else "relay-web"
    return found


def sample_memory(data_dir: Path, stop: threading.Event, samples: dict[str, list[tuple[float, int]]]) -> None:
    while not stop.wait(1.0):
        for pid, name in relay_processes(data_dir).items():
            stats = process_stats(pid)
            if stats is not None:
                samples.setdefault(name, []).append(stats)


def memory_verdict(samples: list[tuple[float, int]]) -> dict[str, Any]:
    quarter = len(samples) // 4
    rss = [s[0] for s in samples]
    files = [s[1] for s in samples]
    early, late = statistics.median(rss[quarter : 2 * quarter]), statistics.median(rss[3 * quarter :])
    allowed = max(MEMORY_SLACK_MB, 0.05 * early)
    return {
        "samples": len(samples),
        "rss_mb_start": round(rss[0], 1),
        "rss_mb_second_quarter": round(early, 1),
        "rss_mb_last_quarter": round(late, 1),
        "rss_mb_max": round(max(rss), 1),
        "growth_mb": round(late - early, 1),
        "allowed_mb": round(allowed, 1),
        "open_files_second_quarter": statistics.median(files[quarter : 2 * quarter]),
        "open_files_last_quarter": statistics.median(files[3 * quarter :]),
        "flat": late - early <= allowed
        and statistics.median(files[3 * quarter :]) <= statistics.median(files[quarter : 2 * quarter]) + 2,
    }


def check_store(data_dir: Path, ledger: Ledger) -> dict[str, int]:
    """Every acknowledged post once with its exact text; valid JSONL, ids 1..N; what was seen is stored."""
    store = FileStore(data_dir)
    stored: dict[tuple[str, int], tuple[str, str]] = {}
    for target in CHANNELS:
        path = store.channel_path(target)
        lines = path.read_bytes().splitlines() if path.exists() else []
        records = [json.loads(line) for line in lines]  # every line valid JSON (jq-able)
        if [r["id"] for r in records] != list(range(1, len(records) + 1)):
            ledger.error(f"{target}: ids are not 1..{len(records)}")
        served, _ = store.read_since(target, 0, len(records) + 1)
        if served != records:
            ledger.error(f"{target}: the store serves something else than the file holds")
        stored.update({(target, r["id"]): (r["sender"], r["text"]) for r in records})
    for key, value in ledger.acked.items():
        if stored.get(key) != value:
            ledger.error(f"acknowledged post {key} is missing or changed")
    if len(stored) != len(ledger.acked):
        ledger.error(f"{len(stored)} messages stored, {len(ledger.acked)} posts acknowledged")
    texts = Counter(text for _, text in stored.values())
    if texts and texts.most_common(1)[0][1] > 1:
        ledger.error(f"a text is stored {texts.most_common(1)[0][1]} times")
    for key, value in ledger.seen.items():
        if stored.get(key) != value:
            ledger.error(f"message {key} was seen but is not what the store holds")
    return {
        "messages_stored": len(stored),
        "messages_checked": len(ledger.acked),
        "seen_checked": len(ledger.seen),
    }


def fill_render_cache(data_dir: Path, base: str) -> None:
    """Post large messages to a seed channel and have relay-web render them all: its cache is full."""
    store = FileStore(data_dir)
    for i in range(SEED_MESSAGES):
        store.append(SEED_CHANNEL, "seed", f"🎉 seed {i} " + "lorem ipsum **dolor** sit amet " * 200)
    since = 0
    while since < SEED_MESSAGES:
        with urllib.request.urlopen(f"{base}/ui/channels/{SEED_CHANNEL}/updates?since_id={since}") as answer:
            since = json.loads(answer.read())["latest_id"]


def start_relay_web(data_dir: Path, home: Path) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [*program("relay-web"), "--data-dir", str(data_dir), "--port", str(port)]
    env = server_env(home)
    log = home / "relay-web.stderr"
    with log.open("wb") as stderr:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=stderr, env=env)
    assert proc.stdout is not None
    printed = b""
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        started = time.monotonic()
        while b"serving on" not in printed:
            if proc.poll() is not None or time.monotonic() - started > 60:
                raise SystemExit(f"relay-web did not start: {printed.decode()} {log.read_text()}")
            if selector.select(timeout=0.2):
                printed += proc.stdout.read1(4096)  # type: ignore[attr-defined]
    return proc, f"http://127.0.0.1:{port}"


async def agents(count: int, data_dir: Path, deadline: float, ledger: Ledger, seed: int, home: Path) -> None:
    async with anyio.create_task_group() as group:
        for index in range(count):
            group.start_soon(agent, index, data_dir, deadline, ledger, seed, home)


def soak(
    seconds: float, agent_count: int, viewer_count: int, data_dir: Path, seed: int, home: Path
) -> dict[str, Any]:
    ledger = Ledger()
    web, base = start_relay_web(data_dir, home)
    fill_render_cache(data_dir, base)
    samples: dict[str, list[tuple[float, int]]] = {}
    stop = threading.Event()
    sampler = threading.Thread(target=sample_memory, args=(data_dir, stop, samples))
    try:
        sampler.start()
        deadline = time.monotonic() + seconds
        viewers = [
            threading.Thread(target=viewer, args=(i, base, deadline, ledger, seed))
            for i in range(viewer_count)
        ]
        for thread in viewers:
            thread.start()
        anyio.run(agents, agent_count, data_dir, deadline, ledger, seed, home)
        for thread in viewers:
            thread.join()
    finally:
        stop.set()
        sampler.join()
        web.terminate()
        web.wait(timeout=30)
        if web.stdout:
            web.stdout.close()
    store = check_store(data_dir, ledger)
    memory = {name: memory_verdict(s) for name, s in sorted(samples.items()) if len(s) >= 8}
    if seconds >= 20 and len(memory) < agent_count + 1:  # shorter runs have too few samples to judge
        ledger.error(f"memory sampled for {len(memory)} processes, expected {agent_count + 1}")
    for name, verdict in memory.items():
        if not verdict["flat"]:
            ledger.error(f"{name}: memory grew {verdict['growth_mb']} MB (allowed {verdict['allowed_mb']})")
    return {
        "ok": not ledger.errors,
        "seconds": seconds,
        "agents": agent_count,
        "viewers": viewer_count,
        "seed": seed,
        "counts": {**dict(sorted(ledger.counts.items())), **store},
        "memory": memory,
        "errors": ledger.errors[:50],
        "error_count": len(ledger.errors),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60, help="how long agents and viewers run")
    parser.add_argument("--agents", type=int, default=4, help="relay-stdio processes posting and reading")
    parser.add_argument("--viewers", type=int, default=3, help="clients polling relay-web")
    parser.add_argument("--json", type=Path, help="also write the summary to this file")
    parser.add_argument("--data-dir", type=Path, help="store to use (default: a temporary one, removed)")
    parser.add_argument("--seed", type=int, default=None, help="replay a run's random choices")
    options = parser.parse_args()
    seed = options.seed if options.seed is not None else random.randrange(2**31)
    workdir = Path(tempfile.mkdtemp(prefix="relay-soak-"))
    data_dir = (options.data_dir or workdir / "data").resolve()
    try:
        summary = soak(options.seconds, options.agents, options.viewers, data_dir, seed, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    text = json.dumps(summary, indent=2, ensure_ascii=False)
    print(text)
    if options.json:
        options.json.write_text(text + "\n", encoding="utf-8")
    print(
        ("soak: OK" if summary["ok"] else f"soak: FAILED ({summary['error_count']} problems)"),
        file=sys.stderr,
    )
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
