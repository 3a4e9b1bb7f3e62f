"""PostgreSQL-only faults: the server restarted or down under posting processes, a writer killed mid-call.

Every acknowledged post is checked by id and text afterwards: none lost, none doubled, ids 1..N.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from shared.errors import StoreUnavailable
from shared.storage import open_store
from tests import reliability
from tests.pg_cluster import PASSWORD, PgCluster
from tests.test_store_contract import all_records

pytestmark = pytest.mark.slow


def _poster(url: str, writer: int, posts: int, out: str, start: Any) -> None:
    """Post ``posts`` messages, retrying a text after a 'store unavailable' error as an agent would."""
    store = open_store(url, lock_timeout_s=30)
    start.wait()
    acked, failures = [], []
    for seq in range(posts):
        text = f"w{writer}-s{seq}"
        while True:
            try:
                record = store.append("faults", f"writer-{writer}", text)
            except StoreUnavailable as exc:
                failures.append(str(exc))
                time.sleep(0.05)
                continue
            acked.append([record["id"], text])
            break
    Path(out).write_text(json.dumps({"acked": acked, "failures": failures}))
    store.close()


def _all_records(url: str) -> list[dict[str, Any]]:
    store = open_store(url)
    try:
        return all_records(store, "faults")
    finally:
        store.close()


def _check_acknowledged(url: str, results: list[dict[str, Any]], expected: int) -> None:
    records = _all_records(url)
    assert [r["id"] for r in records] == list(range(1, len(records) + 1)), "ids must be 1..N with no gap"
    by_id = {r["id"]: r["text"] for r in records}
    texts = [r["text"] for r in records]
    assert len(texts) == len(set(texts)), "a retried post was stored twice"
    acked = [pair for result in results for pair in result["acked"]]
    assert len(acked) == expected
    for record_id, text in acked:
        assert by_id.get(record_id) == text, f"acknowledged #{record_id} {text!r} is not stored as such"
    assert len(records) == expected


def test_a_restarted_database_loses_and_doubles_no_acknowledged_post(
    pg_cluster: PgCluster, pg_url: str, tmp_path: Path
) -> None:
    writers, posts = 4, 400
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    outs = [tmp_path / f"writer-{w}.json" for w in range(writers)]
    procs = [
        ctx.Process(target=_poster, args=(pg_url, w, posts, str(outs[w]), start)) for w in range(writers)
    ]
    for proc in procs:
        proc.start()
    start.set()
    restarts = 0
    deadline = time.monotonic() + 120
    while any(p.is_alive() for p in procs) and restarts < 3 and time.monotonic() < deadline:
        time.sleep(0.4)
        pg_cluster.restart("fast")
        restarts += 1
    for proc in procs:
        proc.join(180)
        assert proc.exitcode == 0
    results = [json.loads(out.read_text()) for out in outs]
    _check_acknowledged(pg_url, results, writers * posts)
    failures = [f for result in results for f in result["failures"]]
    for failure in failures:
        assert failure.startswith("store unavailable:") and PASSWORD not in failure
    reliability.count("postgres.restarts", restarts)
    reliability.count("postgres.acknowledged_posts_checked", writers * posts)
    reliability.count("postgres.unavailable_answers", len(failures))


def test_posts_while_the_database_is_down_fail_clearly_and_recover_by_themselves(
    pg_cluster: PgCluster, pg_url: str
) -> None:
    store = open_store(pg_url, lock_timeout_s=1.0)
    assert store.append("faults", "a", "before")["id"] == 1
    pg_cluster.stop("fast")
    try:
        started = time.monotonic()
        with pytest.raises(StoreUnavailable) as caught:
            store.append("faults", "a", "during")
        assert time.monotonic() - started < 15
        message = str(caught.value)
        assert message.startswith("store unavailable: cannot reach PostgreSQL at postgresql://")
        assert PASSWORD not in message and "%40" not in message
        with pytest.raises(StoreUnavailable):
            store.read_last("faults", 5)
    finally:
        pg_cluster.start()
    deadline = time.monotonic() + 30
    while True:  # the same store object recovers; no restart of the process is needed
        try:
            record = store.append("faults", "a", "after")
            break
        except StoreUnavailable:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    texts = [m["text"] for m in store.read_since("faults", 0, 10)[0]]
    assert texts[0] == "before" and texts[-1] == "after" and record["id"] == len(texts)
    assert "during" not in texts or texts.count("during") == 1
    store.close()


def test_a_store_opened_while_the_database_is_down_answers_once_it_is_up(pg_cluster: PgCluster) -> None:
    url = pg_cluster.url(pg_cluster.new_database())
    pg_cluster.stop("fast")
    try:
        store = open_store(url, lock_timeout_s=1.0)  # opening never needs the server
        with pytest.raises(StoreUnavailable, match="store unavailable"):
            store.list_channels()
    finally:
        pg_cluster.start()
    deadline = time.monotonic() + 30
    while True:
        try:
            assert store.append("late", "a", "hello")["id"] == 1
            break
        except StoreUnavailable:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    store.close()


def _post_forever(url: str, ready: Any) -> None:
    store = open_store(url)
    store.append("killed", "victim", "first")
    ready.set()
    seq = 0
    while True:
        seq += 1
        store.append("killed", "victim", f"m{seq} " + "x" * 5000)


def test_a_writer_killed_mid_transaction_leaves_nothing_half_written(pg_url: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    ready = ctx.Event()
    proc = ctx.Process(target=_post_forever, args=(pg_url, ready))
    proc.start()
    assert ready.wait(60)
    time.sleep(0.5)
    assert proc.pid is not None
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(10)
    store = open_store(pg_url)
    last = store.stats("killed").latest_id
    records = all_records(store, "killed")
    assert [r["id"] for r in records] == list(range(1, last + 1))
    assert all(r["text"] == "first" or r["text"].endswith("x" * 5000) for r in records)
    assert store.append("killed", "survivor", "next")["id"] == last + 1
    store.close()
