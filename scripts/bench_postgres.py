"""The ``postgres`` section of scripts/bench.py: the PostgreSQL store against bare psycopg on one server.

It starts a private server (tests/pg_cluster.py, from Debian's ``postgresql`` package) and measures:
- appends/s with 1, 4 and 8 writer processes vs a bare psycopg INSERT of the same row in its own
  transaction (target >= 0.7x);
- reads at 1M (quick: 100k) vs 1k rows (target <= 2x);
- cross-process wake: a post in one process to a subscriber in another seeing it (median < 20 ms,
  p99 < 100 ms);
- ``relay store copy`` of 1M (quick: 50k) messages from the file store: rate and peak RSS (< 100 MB).
"""

from __future__ import annotations

import json
import multiprocessing
import resource
import select
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


MISSING = "PostgreSQL is not installed (sudo apt-get install postgresql): section skipped"


def _cluster() -> Any:
    from tests.pg_cluster import find_bindir, start_cluster

    bindir = find_bindir()
    return None if bindir is None else start_cluster(bindir)


def _bare_writer(url: str, writer: int, count: int, text: str, go: Any, out: Any) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        go.wait()
        start = time.perf_counter()
        for i in range(count):
            conn.execute(
                "INSERT INTO bare (channel, id, ts, sender, text) VALUES (%s, %s, %s, %s, %s)",
                (f"c{writer}", i, time.time(), "bench", text),
            )
        out.put(time.perf_counter() - start)


def _relay_writer(url: str, writer: int, count: int, text: str, go: Any, out: Any) -> None:
    from shared.storage import open_store

    store = open_store(url, lock_timeout_s=60)
    store.append("warm", "bench", "x")
    go.wait()
    start = time.perf_counter()
    for _ in range(count):
        store.append("shared", "bench", text)
    out.put(time.perf_counter() - start)
    store.close()


def _rate(target: Any, url: str, writers: int, count: int, text: str) -> float:
    ctx = multiprocessing.get_context("spawn")
    go, out = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=target, args=(url, w, count, text, go, out)) for w in range(writers)]
    for proc in procs:
        proc.start()
    time.sleep(1.0 + 0.2 * writers)  # let every process import and connect
    started = time.perf_counter()
    go.set()
    for proc in procs:
        proc.join()
    elapsed = time.perf_counter() - started
    for _ in procs:
        out.get()
    return writers * count / elapsed


def _writes(cluster: Any, quick: bool, runs: int) -> list[dict[str, Any]]:
    import psycopg

    rows = []
    count = 300 if quick else 2000
    text = "x" * 200
    for writers in (1, 4, 8):
        relay, bare = [], []
        for _ in range(runs):
            db = cluster.new_database("bench")
            url = cluster.url(db)
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("CREATE TABLE bare (channel text, id bigint, ts float8, sender text, text text)")
            bare.append(_rate(_bare_writer, url, writers, count, text))
            relay.append(_rate(_relay_writer, url, writers, count, text))
        m_relay, m_bare = statistics.median(relay), statistics.median(bare)
        rows.append(
            {"writers": writers, "relay": m_relay, "bare": m_bare, "ratio": round(m_relay / m_bare, 2)}
        )
    return rows


def _fill(url: str, target: str, count: int) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO relay_channels (name, last_id, last_ts, last_sender) VALUES (%s, %s, 0, 'bench')",
            (target, count),
        )
        conn.execute(
            "INSERT INTO relay_messages (channel, id, ts, sender, text) SELECT %s, g, g, 'bench', "
            "repeat('x', 200) FROM generate_series(1, %s) g",
            (target, count),
        )
        conn.execute("ANALYZE relay_messages")


def _reads(cluster: Any, quick: bool, runs: int) -> dict[str, Any]:
    from bench_sections import time_op

    from shared.storage import open_store

    largest = 100_000 if quick else 1_000_000
    url = cluster.url(cluster.new_database("bench"))
    store = open_store(url)
    store.ensure_ready()
    seconds: dict[str, dict[str, float]] = {}
    for count in (1000, largest):
        target = f"c{count}"
        _fill(url, target, count)
        ops = {
            "read_since (last 50)": lambda t=target, c=count: store.read_since(t, c - 50, 50),
            "read_last 50": lambda t=target: store.read_last(t, 50),
            "read_before (middle, 50)": lambda t=target, c=count: store.read_before(t, c // 2, 50),
            "stats": lambda t=target: store.stats(t),
        }
        for name, op in ops.items():
            seconds.setdefault(name, {})[str(count)] = time_op(op, 50 * runs)
    store.close()
    ratios = {name: round(v[str(largest)] / v["1000"], 2) for name, v in seconds.items()}
    return {"largest": largest, "seconds": seconds, "ratio_largest_vs_1k": ratios}


def _waker(url: str, ready: Any, out: Any, count: int) -> None:
    from shared.storage import open_store

    store = open_store(url)
    sub = store.subscribe(["wake"])
    assert sub is not None
    seen = store.version("wake")
    time.sleep(0.5)  # the LISTEN connection is up
    ready.set()
    latencies = []
    while len(latencies) < count:
        if select.select([sub], [], [], 5)[0]:
            sub.drain()
        last = store.read_last("wake", 1)
        if last and last[0]["id"] != seen:
            seen = last[0]["id"]
            latencies.append(time.time() - float(last[0]["text"]))
    out.put(latencies)
    sub.close()
    store.close()


def _wake(cluster: Any, quick: bool) -> dict[str, Any]:
    from shared.storage import open_store

    count = 50 if quick else 200
    url = cluster.url(cluster.new_database("bench"))
    poster = open_store(url)
    poster.ensure_ready()
    ctx = multiprocessing.get_context("spawn")
    ready, out = ctx.Event(), ctx.Queue()
    proc = ctx.Process(target=_waker, args=(url, ready, out, count))
    proc.start()
    ready.wait(60)
    for _ in range(count):
        poster.append("wake", "bench", repr(time.time()))
        time.sleep(0.02)
    latencies = sorted(out.get(timeout=120))
    proc.join()
    poster.close()
    return {
        "posts": count,
        "median_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] * 1000, 2),
    }


def _copy(cluster: Any, root: Path, quick: bool) -> dict[str, Any]:
    from bench_sections import build_channel

    count = 50_000 if quick else 1_000_000
    data = root / "copy-src"
    build_channel(data, "history", count)
    url = cluster.url(cluster.new_database("bench"))
    # The peak is VmHWM, the high-water mark of this process's own memory: ru_maxrss would also count
    # the benchmark process it was forked from (Linux keeps it across exec).
    probe = (
        "import re, sys, time; from relay_stdio.cli import main; t = time.perf_counter()\n"
        "try:\n    main(['store', 'copy', '--quiet', sys.argv[1], sys.argv[2]])\n"
        "except SystemExit:\n    pass\n"
        "hwm = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)\n"
        "print('RESULT', time.perf_counter() - t, hwm)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(data), url], capture_output=True, text=True, cwd=ROOT, check=True
    )
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT"))
    seconds, rss_kb = float(line.split()[1]), int(line.split()[2])
    return {"messages": count, "seconds": round(seconds, 2), "per_s": round(count / seconds),
            "peak_rss_mb": round(rss_kb / 1024, 1)}  # fmt: skip


def section_postgres(root: Path, quick: bool, runs: int) -> dict[str, Any]:
    root.mkdir(parents=True, exist_ok=True)
    cluster = _cluster()
    if cluster is None:
        print(f"   {MISSING}", file=sys.stderr)
        return {"skipped": MISSING}
    try:
        return {
            "writes": _writes(cluster, quick, runs),
            "reads": _reads(cluster, quick, runs),
            "wake": _wake(cluster, quick),
            "copy": _copy(cluster, root, quick),
            "server": cluster.psql("SHOW server_version"),
            "peak_rss_mb_parent": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }
    finally:
        cluster.destroy()


def render_postgres(pg: dict[str, Any], row: Any) -> None:
    """Add the section's rows to the benchmark table through ``row(name, value, base, ratio, target)``."""
    if "skipped" in pg:
        row(f"postgres: {pg['skipped']}", "", "", None, "")
        return
    for r in pg["writes"]:
        row(f"postgres appends/s, {r['writers']} writer(s) vs bare INSERT", f"{r['relay']:.0f}",
            f"{r['bare']:.0f}", r["ratio"], ">= 0.7")  # fmt: skip
    rd = pg["reads"]
    big = rd["largest"]
    for name, ratio in rd["ratio_largest_vs_1k"].items():
        secs = rd["seconds"][name]
        row(f"postgres {name} at {big:,} vs 1,000 rows (us)", f"{secs[str(big)] * 1e6:.0f}",
            f"{secs['1000'] * 1e6:.0f}", ratio, "<= 2")  # fmt: skip
    wk = pg["wake"]
    row(f"postgres cross-process wake, median ms ({wk['posts']} posts)", f"{wk['median_ms']:.1f}", "", None,
        "< 20 ms")  # fmt: skip
    row("postgres cross-process wake, p99 ms", f"{wk['p99_ms']:.1f}", "", None, "< 100 ms")
    cp = pg["copy"]
    row(
        f"relay store copy files -> postgres, {cp['messages']:,} msgs (msgs/s)",
        f"{cp['per_s']}",
        "",
        None,
        "",
    )
    row("relay store copy peak RSS (MB)", f"{cp['peak_rss_mb']:.0f}", "", None, "< 100 MB")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    print(json.dumps(section_postgres(Path(sys.argv[1]), quick=True, runs=1), indent=2))
