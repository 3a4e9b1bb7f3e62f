"""The search section of scripts/bench.py: ``search`` over 100,000 messages in 10 channels, per backend.

Baselines, measured in the same run: for the files, the floor of any scan, reading every channel file
and counting the word in its lower-cased bytes (no line split, no JSON); for PostgreSQL (when it is
installed: a private server, as the tests start one), one bare SQL count of the rows whose lower-cased
text holds the word. The ratio is what finding whole records, newest first, costs on top of that.
"""

from __future__ import annotations

import json
import statistics
import time
from functools import partial
from pathlib import Path
from typing import Any

from shared.search import SEARCH_BUDGET_S
from shared.storage import open_store
from shared.storage.files.store import FileStore

MESSAGES = 100_000
CHANNELS = 10
WORDS = ("review", "packet", "verdict", "limiter", "tests", "diff", "approve", "changes")
FILLER = "The change keeps the old behaviour for existing callers and adds a regression test. " * 2
# (name, query, limit): a word in no message but three (the whole history is read), a word in every
# message (the newest 50 are found at once), a non-ASCII word (every line is decoded and folded).
CASES = (
    ("rare word, 100k scanned", "needle", 50),
    ("common word, newest 50", "review", 50),
    ("non-ASCII word, 100k folded", "überprüfung", 50),
)


def build(data_dir: Path) -> None:
    """Write the channels as the store writes them (one JSON line per message), without the lock."""
    folder = data_dir / "channels"
    folder.mkdir(parents=True, exist_ok=True)
    for target, rows in records().items():
        with (folder / f"{target}.jsonl").open("w", encoding="utf-8", buffering=1 << 20) as handle:
            for record in rows:
                handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def floor_scan(data_dir: Path, word: str) -> int:
    """Every byte of every channel file read and searched once: what no scan can beat."""
    needle = word.encode("utf-8")
    found = 0
    for path in sorted((data_dir / "channels").glob("*.jsonl")):
        found += path.read_bytes().lower().count(needle)
    return found


def _search(root: Path, query: str, limit: int) -> list[Any]:
    return FileStore(root).search(query, None, limit, SEARCH_BUDGET_S)  # a fresh store: no warm cache


def _median(op: Any, reps: int) -> float:
    samples = []
    for _ in range(reps):
        t0 = time.perf_counter()
        op()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def records() -> dict[str, list[dict[str, Any]]]:
    """The benchmark's messages, per channel."""
    per_channel = MESSAGES // CHANNELS
    base = time.time() - MESSAGES
    channels: dict[str, list[dict[str, Any]]] = {}
    for c in range(CHANNELS):
        target = f"search-{c}"
        rows = channels[target] = []
        for i in range(1, per_channel + 1):
            text = f"{WORDS[i % len(WORDS)]} #{i}: review of step {i}. {FILLER}"
            if c == 3 and i in (10, 5000, 9990):
                text += " needle"
            rows.append(
                {"id": i, "ts": base + i * CHANNELS + c, "target": target, "sender": "claude", "text": text}
            )
    return channels


def section_search(root: Path, quick: bool, runs: int) -> dict[str, Any]:
    build(root)
    reps = 3 if quick else 7
    result = {"messages": MESSAGES, "channels": CHANNELS, "rows": _file_rows(root, reps, runs)}
    result["postgres_rows"] = _postgres_rows(reps, runs)
    return result


def _postgres_rows(reps: int, runs: int) -> list[dict[str, Any]]:
    """The same searches on a private PostgreSQL server; none when PostgreSQL is not installed."""
    from tests.pg_cluster import find_bindir, start_cluster

    bindir = find_bindir()
    if bindir is None:
        return []
    cluster = start_cluster(bindir)
    try:
        store = open_store(cluster.url(cluster.new_database()))
        for target, rows in records().items():
            store.import_records(target, rows)
        found_rows = []
        for name, query, limit in CASES:
            found = store.search(query, None, limit, SEARCH_BUDGET_S)
            search = partial(store.search, query, None, limit, SEARCH_BUDGET_S)
            floor = partial(_sql_count, store, query)
            search_s = statistics.median([_median(search, reps) for _ in range(runs)])
            floor_s = statistics.median([_median(floor, reps) for _ in range(runs)])
            found_rows.append(_row(name, query, found, search_s, floor_s))
        store.close()
        return found_rows
    finally:
        cluster.destroy()


def _sql_count(store: Any, word: str) -> int:
    """The floor for PostgreSQL: one scan of every row's lower-cased text, counting matches."""
    sql = "SELECT count(*) FROM relay_messages WHERE strpos(lower(text), %s) > 0"
    return int(store._call(lambda conn: conn.execute(sql, (word,)).fetchone()[0], "nothing was read"))


def _row(name: str, query: str, found: Any, search_s: float, floor_s: float) -> dict[str, Any]:
    return {
        "name": name,
        "query": query,
        "found": len(found),
        "complete": found.complete,
        "search_s": search_s,
        "floor_s": floor_s,
        "ratio": search_s / floor_s,
    }


def _file_rows(root: Path, reps: int, runs: int) -> list[dict[str, Any]]:
    rows = []
    for name, query, limit in CASES:
        found = FileStore(root).search(query, None, limit, SEARCH_BUDGET_S)
        search = partial(_search, root, query, limit)
        floor = partial(floor_scan, root, query)
        search_s = statistics.median([_median(search, reps) for _ in range(runs)])
        floor_s = statistics.median([_median(floor, reps) for _ in range(runs)])
        rows.append(_row(name, query, found, search_s, floor_s))
    return rows


def render(row: Any, section: dict[str, Any]) -> None:
    """The section's rows of the benchmark table."""
    for r in section["rows"]:
        row(f"search {r['name']} (ms) vs floor scan", f"{r['search_s'] * 1000:.1f}",
            f"{r['floor_s'] * 1000:.1f}", r["ratio"], "complete")  # fmt: skip
    for r in section.get("postgres_rows", []):
        row(f"PostgreSQL search {r['name']} (ms) vs SQL count", f"{r['search_s'] * 1000:.1f}",
            f"{r['floor_s'] * 1000:.1f}", r["ratio"], "complete")  # fmt: skip
