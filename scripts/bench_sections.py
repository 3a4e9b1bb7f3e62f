"""The measurements behind scripts/bench.py, one function per section; each returns raw numbers."""

from __future__ import annotations

import fcntl
import json
import multiprocessing
import os
import platform
import re
import resource
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import bench_search  # type: ignore[import-not-found]  # scripts/ is on the path of scripts/bench.py

from shared.config import resolve_config
from shared.relay import Relay
from shared.storage.files.store import FileStore

Poster = Callable[[int], None]
CHANNEL = "bench"


def machine_description() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    system = f"{platform.system()} {platform.release()}"
    return f"{system}, {os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}"


def payload(size: int) -> str:
    return ("relay benchmark payload " * (size // 24 + 1))[:size]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# --- writers: the relay's store and the two baselines --------------------------------------------


def make_poster(impl: str, root: Path, channel: str, text: str) -> Poster:
    """A function that posts message number ``i`` through one implementation."""
    if impl == "store":
        store = FileStore(root / "store", lock_timeout_s=60)

        def post_store(i: int) -> None:
            store.append(channel, "bench", text)

        return post_store
    if impl == "floor":
        lock_path = root / f"floor-{channel}.lock"
        data_path = root / f"floor-{channel}.jsonl"

        def post_floor(i: int) -> None:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                record = {"id": i, "ts": time.time(), "target": channel, "sender": "bench", "text": text}
                with open(data_path, "a", encoding="utf-8") as handle:
                    handle.write(json.dumps(record) + "\n")
            finally:
                os.close(fd)

        return post_floor
    if impl == "sqlite":
        conn = sqlite3.connect(root / "bench.db", timeout=60, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS messages (channel TEXT, id INTEGER, ts REAL, sender TEXT, text TEXT,"
            " PRIMARY KEY (channel, id))"
        )

        def post_sqlite(i: int) -> None:
            # Per-channel contiguous ids, as the relay gives: the same job done the way peers do it.
            conn.execute("BEGIN IMMEDIATE")
            conn.execute(
                "INSERT INTO messages SELECT ?, COALESCE(MAX(id), 0) + 1, ?, 'bench', ? FROM messages"
                " WHERE channel = ?",
                (channel, time.time(), text, channel),
            )
            conn.execute("COMMIT")

        return post_sqlite
    raise ValueError(impl)


def _writer(impl: str, root: str, channel: str, count: int, size: int, ready: Any, go: Any, out: Any) -> None:
    post = make_poster(impl, Path(root), channel, payload(size))
    post(-1)  # warm up: open files, create tables
    latencies = []
    ready.release()
    go.wait()
    start = time.perf_counter()
    for i in range(count):
        t0 = time.perf_counter()
        post(i)
        latencies.append(time.perf_counter() - t0)
    out.put((start, time.perf_counter(), latencies))


def run_writers(impl: str, root: Path, writers: int, count: int, size: int, separate: bool) -> dict[str, Any]:
    """Run ``writers`` processes posting ``count`` messages each; returns rate and latencies."""
    ctx = multiprocessing.get_context("fork")
    root.mkdir(parents=True, exist_ok=True)
    if impl == "sqlite":  # create the database and switch it to WAL once, before writers race to do it
        make_poster(impl, root, CHANNEL, "")
    ready, go, out = ctx.Semaphore(0), ctx.Event(), ctx.Queue()
    procs = [
        ctx.Process(
            target=_writer,
            args=(impl, str(root), f"{CHANNEL}{w}" if separate else CHANNEL, count, size, ready, go, out),
        )
        for w in range(writers)
    ]
    for proc in procs:
        proc.start()
    for _ in procs:
        ready.acquire()
    go.set()
    parts = [out.get(timeout=600) for _ in procs]
    for proc in procs:
        proc.join()
    span = max(p[1] for p in parts) - min(p[0] for p in parts)
    latencies = [lat for p in parts for lat in p[2]]
    return {"rate": writers * count / span, "latencies": latencies}


def section_writes(root: Path, quick: bool, runs: int) -> dict[str, Any]:
    writer_counts = [1, 4] if quick else [1, 2, 4, 8]
    sizes = [200] if quick else [200, 4096]
    count = 300 if quick else 4000  # per writer: long enough that start-up jitter does not set the rate
    rows = []
    for separate in (False, True):
        for size in sizes:
            for writers in writer_counts:
                rates: dict[str, list[float]] = {}
                for run in range(runs):
                    for impl in ("store", "floor", "sqlite"):  # interleaved, so drift hits all alike
                        where = root / f"{impl}-{separate}-{size}-{writers}-{run}"
                        rates.setdefault(impl, []).append(
                            run_writers(impl, where, writers, count, size, separate)["rate"]
                        )
                medians = {impl: statistics.median(values) for impl, values in rates.items()}
                rows.append(
                    {
                        "channels": "separate" if separate else "one",
                        "size": size,
                        "writers": writers,
                        "rates": rates,
                        "median_rate": medians,
                        "vs_floor": medians["store"] / medians["floor"],
                        "vs_sqlite": medians["store"] / medians["sqlite"],
                    }
                )
    return {"rows": rows}


def section_latency(root: Path, quick: bool, runs: int) -> dict[str, Any]:
    count = 500 if quick else 3000
    result = {}
    for impl in ("store", "floor"):
        lat: list[float] = []
        for run in range(runs):
            lat += run_writers(impl, root / f"{impl}-{run}", 4, count, 200, False)["latencies"]
        result[impl] = {
            "p50_ms": statistics.median(lat) * 1000,
            "p99_ms": pct(lat, 0.99) * 1000,
            "max_ms": max(lat) * 1000,
            "over_20ms": sum(1 for x in lat if x > 0.020),
            "posts": len(lat),
        }
    result["p99_over_p50"] = result["store"]["p99_ms"] / result["store"]["p50_ms"]
    return result


# --- reads at growing history ------------------------------------------------------------------


def build_channel(data_dir: Path, channel: str, count: int) -> None:
    """Write ``count`` records the way the store does, without the per-post lock (fast set-up)."""
    path = data_dir / "channels" / f"{channel}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = payload(200)
    base = time.time() - count
    with path.open("w", encoding="utf-8", buffering=1 << 20) as handle:
        for i in range(1, count + 1):
            record = {"id": i, "ts": base + i, "target": channel, "sender": "claude" if i % 2 else "codex"}
            record["text"] = text
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def time_op(op: Callable[[], object], reps: int, setup: Callable[[], object] | None = None) -> float:
    """Median seconds of ``op`` over ``reps`` calls (``setup`` runs before each, untimed)."""
    samples = []
    for _ in range(reps):
        if setup is not None:
            setup()
        t0 = time.perf_counter()
        op()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def read_ops(data_dir: Path, count: int) -> dict[str, Callable[[], object]]:
    config = resolve_config({"data_dir": str(data_dir)}, env={})
    # A fresh store per call: no per-process cache helps, as for the first read of a new process.
    return {
        "latest_id": lambda: FileStore(data_dir).stats(CHANNEL).latest_id,
        "last_50": lambda: FileStore(data_dir).read_last(CHANNEL, 50),
        "since_near_end": lambda: FileStore(data_dir).read_since(CHANNEL, count - 10, 50),
        "since_middle": lambda: FileStore(data_dir).read_since(CHANNEL, count // 2, 50),
        "default_read": lambda: Relay(config).fetch(CHANNEL, identity="bench"),
    }


def _memory_probe(data_dir: str, count: int, out: Any) -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    ops = read_ops(Path(data_dir), count)
    for _ in range(20):
        for op in ops.values():
            op()
    out.put((before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))


def section_reads(root: Path, quick: bool, runs: int) -> dict[str, Any]:
    sizes = [1_000, 10_000, 100_000] if quick else [1_000, 10_000, 100_000, 1_000_000]
    reps = 50 if quick else 200
    table: dict[str, dict[int, float]] = {}
    for count in sizes:
        data_dir = root / f"n{count}"
        build_channel(data_dir, CHANNEL, count)
        store = Relay(resolve_config({"data_dir": str(data_dir)}, env={})).store
        rewind = partial(store.reset_position, "bench", CHANNEL, count - 10)
        for name, op in read_ops(data_dir, count).items():
            setup = rewind if name == "default_read" else None
            runs_s = [time_op(op, reps, setup) for _ in range(runs)]
            table.setdefault(name, {})[count] = statistics.median(runs_s)
    # 1,000 channels of 10 messages each.
    many = root / "many"
    for i in range(1000):
        build_channel(many, f"ch{i:04d}", 10)
    channels_s = statistics.median(
        [time_op(lambda: FileStore(many).list_channels(), 5 if quick else 20) for _ in range(runs)]
    )
    big = sizes[-1]
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(target=_memory_probe, args=(str(root / f"n{big}"), big, out))
    proc.start()
    before_kb, after_kb = out.get(timeout=600)
    proc.join()
    file_mb = (root / f"n{big}" / "channels" / f"{CHANNEL}.jsonl").stat().st_size / 1e6
    return {
        "seconds": {name: {str(k): v for k, v in row.items()} for name, row in table.items()},
        "ratio_largest_vs_1k": {name: row[big] / row[1_000] for name, row in table.items()},
        "largest": big,
        "list_channels_1000_s": channels_s,
        "memory": {"file_mb": file_mb, "rss_growth_mb": (after_kb - before_kb) / 1024},
    }


# --- relay-stdio against the bare SDK, over real stdio -------------------------------------------

BARE_SERVER = """
import time
from mcp.server.mcpserver import MCPServer
server = MCPServer("bare")
RECORD = {"id": 1, "ts": time.time(), "target": "bench", "sender": "bench", "text": "x" * 200}
@server.tool()
def noop(target: str = "", text: str = "") -> dict:
    return {"ok": True}
@server.tool()
def noop_post_shaped(target: str = "", text: str = "") -> dict:
    return {"ok": True, "posted": 1, "message": RECORD}
@server.tool()
def noop_fetch_shaped(target: str = "", since_id: int = 0, limit: int = 5) -> dict:
    return {"messages": [RECORD] * limit, "latest_id": 5, "has_more": True, "since_id": since_id}
server.run("stdio")
"""
"""A bare MCPServer: a no-op tool, and no-ops that return what post_message and fetch_messages return
(constant data, no I/O), to tell the SDK's cost of carrying a payload from the relay's own work."""


class StdioPeer:
    """A server process spoken to with raw JSON-RPC lines (the same cheap client for both servers)."""

    def __init__(self, command: list[str], env: dict[str, str]) -> None:
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env
        )
        self.next_id = 0

    def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin and self.proc.stdout
        self.next_id += 1
        message = {"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params}
        self.proc.stdin.write((json.dumps(message) + "\n").encode())
        self.proc.stdin.flush()
        while True:
            reply = json.loads(self.proc.stdout.readline())
            if reply.get("id") == self.next_id:
                return reply

    def notify(self, method: str) -> None:
        assert self.proc.stdin
        self.proc.stdin.write((json.dumps({"jsonrpc": "2.0", "method": method}) + "\n").encode())
        self.proc.stdin.flush()

    def initialize(self) -> float:
        self.request(
            "initialize",
            {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "bench", "version": "1"},
            },
        )
        elapsed = time.perf_counter() - self.started
        self.notify("notifications/initialized")
        return elapsed

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def close(self) -> None:
        assert self.proc.stdin
        self.proc.stdin.close()
        self.proc.wait(timeout=30)
        if self.proc.stdout:
            self.proc.stdout.close()


def _call_time(peer: StdioPeer, name: str, arguments: dict[str, Any], reps: int) -> float:
    samples = []
    for _ in range(reps):
        t0 = time.perf_counter()
        reply = peer.request("tools/call", {"name": name, "arguments": arguments})
        samples.append(time.perf_counter() - t0)
        assert "result" in reply and not reply["result"].get("isError"), reply
    return statistics.median(samples)


def _interleaved(calls: list[tuple[str, StdioPeer, str, dict[str, Any]]], reps: int) -> dict[str, float]:
    """Median round trip of each call, taking turns call by call so machine noise hits all alike."""
    samples: dict[str, list[float]] = {label: [] for label, *_ in calls}
    for _ in range(reps):
        for label, peer, name, arguments in calls:
            t0 = time.perf_counter()
            reply = peer.request("tools/call", {"name": name, "arguments": arguments})
            samples[label].append(time.perf_counter() - t0)
            assert "result" in reply and not reply["result"].get("isError"), reply
    return {label: statistics.median(values) for label, values in samples.items()}


def section_stdio(root: Path, quick: bool, runs: int) -> dict[str, Any]:
    root.mkdir(parents=True, exist_ok=True)
    bare_path = root / "bare_server.py"
    bare_path.write_text(BARE_SERVER)
    env = {**os.environ, "CLAUDE_CODEX_DATA_DIR": str(root / "data"), "CLAUDE_CODEX_SENDER": "bench"}
    relay_cmd = [sys.executable, "-m", "relay_stdio"]
    bare_cmd = [sys.executable, str(bare_path)]
    reps = 100 if quick else 500
    post_args = {"target": CHANNEL, "text": payload(200)}
    fetch_args = {"target": CHANNEL, "since_id": 0, "limit": 5}
    raw: dict[str, list[float]] = {}
    for _ in range(runs):
        relay, bare = StdioPeer(relay_cmd, env), None
        raw.setdefault("relay_startup_s", []).append(relay.initialize())
        bare = StdioPeer(bare_cmd, env)
        raw.setdefault("bare_startup_s", []).append(bare.initialize())
        calls = [
            ("relay_post_s", relay, "post_message", post_args),
            ("bare_call_s", bare, "noop", post_args),
            ("bare_post_shaped_s", bare, "noop_post_shaped", post_args),
            ("relay_fetch_s", relay, "fetch_messages", fetch_args),
            ("bare_fetch_shaped_s", bare, "noop_fetch_shaped", fetch_args),
        ]
        for label, value in _interleaved(calls, reps).items():
            raw.setdefault(label, []).append(value)
        time.sleep(0.3)
        raw.setdefault("relay_idle_rss_mb", []).append(relay.rss_mb())
        raw.setdefault("bare_idle_rss_mb", []).append(bare.rss_mb())
        relay.close()
        bare.close()
    med = {key: statistics.median(values) for key, values in raw.items()}
    return {
        "raw": raw,
        "median": med,
        "ratios": {
            "startup": med["relay_startup_s"] / med["bare_startup_s"],
            "post_round_trip": med["relay_post_s"] / med["bare_call_s"],
            "fetch_round_trip": med["relay_fetch_s"] / med["bare_call_s"],
            "post_vs_same_payload": med["relay_post_s"] / med["bare_post_shaped_s"],
            "fetch_vs_same_payload": med["relay_fetch_s"] / med["bare_fetch_shaped_s"],
            "idle_rss": med["relay_idle_rss_mb"] / med["bare_idle_rss_mb"],
        },
    }


# --- delivery through wait_for_messages --------------------------------------------------------


def section_wait(root: Path, quick: bool, runs: int) -> dict[str, Any]:
    """A post in one process to the return of wait_for_messages in a real relay-stdio (bench_wait.py)."""
    import anyio
    import bench_wait

    root.mkdir(parents=True, exist_ok=True)
    return anyio.run(bench_wait.run, 100 if quick else 500, 2.0 if quick else 10.0, root)


def section_push(root: Path, quick: bool, runs: int) -> dict[str, Any]:
    """A post in this process to the ``notifications/claude/channel`` a real relay-stdio sends for it.

    The client is raw JSON-RPC lines introducing itself as Claude Code; the loop guard is off so every
    one of the posts (all from one agent) is pushed. Both ends of each interval are timed here.
    """
    count = 50 if quick else 200
    data_dir = root / "data"
    env = {**os.environ, "CLAUDE_CODEX_DATA_DIR": str(data_dir), "CLAUDE_CODEX_LOOP_GUARD": "0"}
    command = [str(Path(sys.executable).with_name("relay-stdio")), "--sender", "claude", "--channel", CHANNEL]
    peer = StdioPeer(command, env)
    peer.request(
        "initialize",
        {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "claude-code", "version": "1"},
        },
    )
    peer.notify("notifications/initialized")
    peer.request("tools/list", {})  # the server has handled initialized (and subscribed) by now
    relay = Relay(resolve_config({"data_dir": str(data_dir), "loop_guard": 0}, env={}))
    latencies = []
    assert peer.proc.stdout is not None
    for n in range(count):
        started = time.perf_counter()
        relay.post(CHANNEL, f"push {n}", "codex", source="api")
        while json.loads(peer.proc.stdout.readline()).get("method") != "notifications/claude/channel":
            pass
        latencies.append((time.perf_counter() - started) * 1000)
    peer.close()
    return {
        "messages": count,
        "median_ms": statistics.median(latencies),
        "p99_ms": pct(latencies, 0.99),
        "max_ms": max(latencies),
    }


# --- the viewer ------------------------------------------------------------------------------------


def _web_times(client: Any, url: str, reps: int) -> float:
    samples = []
    for _ in range(reps):
        t0 = time.perf_counter()
        response = client.get(url)
        samples.append(time.perf_counter() - t0)
        assert response.status_code == 200, (url, response.status_code)
    return statistics.median(samples)


def _poll_under_load(data_dir: Path, home: Path, clients: int, seconds: float) -> dict[str, float]:
    """A real relay-web; ``clients`` threads poll since_id while a writer posts 10 times a second."""
    import threading
    import urllib.request

    from tests.e2e.web_server import running_relay_web

    store = FileStore(data_dir)
    latencies: list[float] = []
    guard = threading.Lock()
    with running_relay_web(home, data_dir) as (base, _):
        stop = threading.Event()

        def poller() -> None:
            since = store.stats(CHANNEL).latest_id
            while not stop.is_set():
                t0 = time.perf_counter()
                url = f"{base}/api/messages?target={CHANNEL}&since_id={since}"
                with urllib.request.urlopen(url, timeout=60) as response:
                    got = json.loads(response.read())
                elapsed = time.perf_counter() - t0
                with guard:
                    latencies.append(elapsed)
                since = got["latest_id"]
                stop.wait(0.25)

        def writer() -> None:
            while not stop.is_set():
                store.append(CHANNEL, "agent", payload(200))
                stop.wait(0.1)

        threads = [threading.Thread(target=poller) for _ in range(clients)] + [
            threading.Thread(target=writer)
        ]
        for thread in threads:
            thread.start()
        time.sleep(seconds)
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
    p50 = statistics.median(latencies)
    return {"requests": len(latencies), "p50_ms": p50 * 1000, "p99_ms": pct(latencies, 0.99) * 1000}


def section_web(root: Path, quick: bool, runs: int) -> dict[str, Any]:
    from relay_web import create_app

    sizes = [1_000, 20_000] if quick else [1_000, 100_000]
    reps = 30 if quick else 100
    seconds: dict[str, dict[str, float]] = {}
    for count in sizes:
        data_dir = root / f"n{count}"
        build_channel(data_dir, CHANNEL, count)
        client = create_app(resolve_config({"data_dir": str(data_dir)}, env={})).test_client()
        urls = {
            "api_since_near_end": f"/api/messages?target={CHANNEL}&since_id={count - 50}",
            "api_since_middle": f"/api/messages?target={CHANNEL}&since_id={count // 2}",
            "channel_page": f"/channels/{CHANNEL}",
        }
        for name, url in urls.items():
            client.get(url)  # the page's render cache is warm, as for every reader after the first
            value = statistics.median([_web_times(client, url, reps) for _ in range(runs)])
            seconds.setdefault(name, {})[str(count)] = value
    big = str(sizes[-1])
    load = _poll_under_load(root / f"n{sizes[0]}", root / "home", 50, 5.0 if quick else 20.0)
    return {
        "seconds": seconds,
        "largest": sizes[-1],
        "ratio_largest_vs_1k": {name: row[big] / row["1000"] for name, row in seconds.items()},
        "load_50_clients": load,
        "load_p99_over_p50": load["p99_ms"] / load["p50_ms"],
    }


# --- rendering one message ----------------------------------------------------------------------


def section_render(root: Path, quick: bool, runs: int) -> dict[str, Any]:
    """One message of the largest size, hostile or generated, through the viewer (bench_render.py)."""
    import bench_render

    return bench_render.run(quick, runs)


# --- the report --------------------------------------------------------------------------------


_TARGET = re.compile(r"\s*(>=|<=|==|<|>)\s*([0-9.]+)(\s*(?:ms|MB|s)\b)?")
_COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
    "==": lambda a, b: a == b,
    "<": lambda a, b: a < b,
    ">": lambda a, b: a > b,
}


def misses_target(target: str, value: str, ratio: float | None) -> bool:
    """Whether a row misses its target ("<= 1.3", ">= 0.5", "< 20 ms"): a target with a unit (ms, MB, s)
    is a bound on the row's value, one without a unit on its ratio (its value when it has none). A row
    without a target, or whose value is not a number, is never a miss."""
    match = _TARGET.match(target)
    if match is None:
        return False
    try:
        measured = ratio if ratio is not None and not match.group(3) else float(value)
    except ValueError:
        return False
    return not _COMPARE[match.group(1)](measured, float(match.group(2)))


def render_table(results: dict[str, Any]) -> str:
    """The report: one row per measurement, MISS after each row that misses its target, and a last line
    that counts the misses, so a regression is read off the end of the output, not hunted for."""
    misses: list[str] = []
    checked = 0
    lines = [
        f"claude-codex-relay benchmark: {results['machine']}, {results['date']}, quick={results['quick']}"
    ]
    lines.append(f"{'measurement':<52} {'relay':>12} {'baseline':>12} {'ratio':>8}  target")
    lines.append("-" * 100)

    def row(name: str, value: str, base: str, ratio: float | None, target: str) -> None:
        shown = f"{ratio:8.2f}" if ratio is not None else " " * 8
        nonlocal checked
        checked += bool(_TARGET.match(target))
        missed = misses_target(target, value, ratio)
        if missed:
            misses.append(name)
        lines.append(f"{name:<52} {value:>12} {base:>12} {shown}  {target}" + ("  MISS" if missed else ""))

    sections = results["sections"]
    if "writes" in sections:
        for r in sections["writes"]["rows"]:
            name = f"posts/s, {r['writers']} writer(s), {r['size']} B, {r['channels']} channel(s)"
            m = r["median_rate"]
            row(name + " vs flock", f"{m['store']:.0f}", f"{m['floor']:.0f}", r["vs_floor"], ">= 0.5")
            row(name + " vs SQLite", f"{m['store']:.0f}", f"{m['sqlite']:.0f}", r["vs_sqlite"], ">= 1.0")
    if "latency" in sections:
        lat = sections["latency"]
        s = lat["store"]
        row(
            "post latency, 4 writers: p50 ms", f"{s['p50_ms']:.3f}", f"{lat['floor']['p50_ms']:.3f}", None, ""
        )
        row("post latency, 4 writers: p99 ms (ratio p99/p50)", f"{s['p99_ms']:.3f}",
            f"{lat['floor']['p99_ms']:.3f}", lat["p99_over_p50"], "<= 5")  # fmt: skip
        row("post latency, 4 writers: max ms", f"{s['max_ms']:.1f}", f"{lat['floor']['max_ms']:.1f}", None,
            "")  # fmt: skip
        row("post latency, 4 writers: posts over 20 ms", f"{s['over_20ms']}", f"{lat['floor']['over_20ms']}",
            None, "== 0 (no stalls)")  # fmt: skip
    if "reads" in sections:
        rd = sections["reads"]
        big = rd["largest"]
        for name, ratio in rd["ratio_largest_vs_1k"].items():
            secs = rd["seconds"][name]
            row(f"{name} at {big:,} vs 1,000 msgs (us)", f"{secs[str(big)] * 1e6:.0f}",
                f"{secs['1000'] * 1e6:.0f}", ratio, "<= 2")  # fmt: skip
        row("list_channels, 1,000 channels (ms)", f"{rd['list_channels_1000_s'] * 1000:.1f}", "", None, "")
        mem = rd["memory"]
        row(f"peak RSS growth reading {mem['file_mb']:.0f} MB channel (MB)", f"{mem['rss_growth_mb']:.1f}",
            "", None, "< 20 MB")  # fmt: skip
    if "stdio" in sections:
        st = sections["stdio"]
        med, ratios = st["median"], st["ratios"]
        row("relay-stdio start-up to initialize (ms)", f"{med['relay_startup_s'] * 1000:.0f}",
            f"{med['bare_startup_s'] * 1000:.0f}", ratios["startup"], "<= 1.3")  # fmt: skip
        row("post_message round trip vs no-op tool (ms)", f"{med['relay_post_s'] * 1000:.2f}",
            f"{med['bare_call_s'] * 1000:.2f}", ratios["post_round_trip"], "<= 1.3")  # fmt: skip
        row("fetch_messages round trip vs no-op tool (ms)", f"{med['relay_fetch_s'] * 1000:.2f}",
            f"{med['bare_call_s'] * 1000:.2f}", ratios["fetch_round_trip"], "<= 1.3")  # fmt: skip
        row("post_message vs a no-op returning the same payload (ms)", f"{med['relay_post_s'] * 1000:.2f}",
            f"{med['bare_post_shaped_s'] * 1000:.2f}", ratios["post_vs_same_payload"], "")  # fmt: skip
        row("fetch_messages vs a no-op returning the same payload (ms)", f"{med['relay_fetch_s'] * 1000:.2f}",
            f"{med['bare_fetch_shaped_s'] * 1000:.2f}", ratios["fetch_vs_same_payload"], "")  # fmt: skip
        row("idle RSS (MB)", f"{med['relay_idle_rss_mb']:.1f}", f"{med['bare_idle_rss_mb']:.1f}",
            ratios["idle_rss"], "<= 1.3")  # fmt: skip
    if "wait" in sections:
        wt = sections["wait"]
        row(f"wait_for_messages delivery, median ms ({wt['messages']} posts)", f"{wt['median_ms']:.1f}", "",
            None, "< 20 ms")  # fmt: skip
        row("wait_for_messages delivery, p99 ms", f"{wt['p99_ms']:.1f}", "", None, "< 100 ms")
        if "idle_cpu_percent" in wt:
            row("idle waiter CPU (% of a core)", f"{wt['idle_cpu_percent']:.2f}", "", None, "")
    if "push" in sections:
        pu = sections["push"]
        row(f"channel push delivery, median ms ({pu['messages']} posts)", f"{pu['median_ms']:.1f}", "",
            None, "< 20 ms")  # fmt: skip
        row("channel push delivery, p99 ms", f"{pu['p99_ms']:.1f}", "", None, "< 100 ms")
    if "web" in sections:
        wb = sections["web"]
        big = wb["largest"]
        for name, ratio in wb["ratio_largest_vs_1k"].items():
            secs = wb["seconds"][name]
            row(f"viewer {name} at {big:,} vs 1,000 msgs (ms)", f"{secs[str(big)] * 1000:.2f}",
                f"{secs['1000'] * 1000:.2f}", ratio, "<= 2")  # fmt: skip
        ld = wb["load_50_clients"]
        row("API p99 vs p50 (ms), 50 clients polling + a writer", f"{ld['p99_ms']:.1f}",
            f"{ld['p50_ms']:.1f}", wb["load_p99_over_p50"], "<= 10")  # fmt: skip
    if "render" in sections:
        _render_rows(sections["render"], row)
    if "postgres" in sections:
        from bench_postgres import render_postgres

        render_postgres(sections["postgres"], row)
    if "search" in sections:
        bench_search.render(row, sections["search"])
    lines.append("-" * 100)
    summary = f"{len(misses)} of {checked} rows with a target missed it"
    lines.append(summary + (": " + "; ".join(misses) if misses else ""))
    return "\n".join(lines)


def _render_rows(rd: dict[str, Any], row: Callable[[str, str, str, float | None, str], None]) -> None:
    for name, r in rd["hostile"].items():
        shown = "as text" if r["plain_text"] else "rendered"
        row(f"render 256 KB (CPU ms): {name}", f"{r['ms']:.1f}", f"{r['baseline_ms']:.1f}", r["ratio"],
            f"<= 500 ms ({shown})")  # fmt: skip
    worst = rd["search"]["worst"]
    row(f"render: slowest of {rd['search']['examples']} generated (CPU ms)", f"{worst['ms']:.1f}", "", None,
        "<= 500 ms")  # fmt: skip
    row("render: estimate vs measured, worst shape (ratio)", "", "", rd["worst_estimate_ratio"], "<= 1")


def section_postgres(root: Path, quick: bool, runs: int) -> dict[str, Any]:
    """The PostgreSQL store against bare psycopg on a private server (scripts/bench_postgres.py)."""
    from bench_postgres import section_postgres as run

    return run(root, quick, runs)


ALL: dict[str, Callable[..., dict[str, Any]]] = {
    "writes": section_writes,
    "latency": section_latency,
    "reads": section_reads,
    "stdio": section_stdio,
    "wait": section_wait,
    "push": section_push,
    "web": section_web,
    "render": section_render,
    "postgres": section_postgres,
    "search": bench_search.section_search,
}
