"""Many writers at once: every message kept exactly once, ids contiguous in file order."""

import json
import multiprocessing
import os
import subprocess
import sys
import threading
import tracemalloc
from pathlib import Path

import pytest

from shared.storage.files import jsonl
from shared.storage.files.check import check_store
from shared.storage.files.store import FileStore

WRITERS = 8
POSTS = 500


def _writer(data_dir: str, writer: int, posts: int, start: "multiprocessing.synchronize.Event") -> None:
    store = FileStore(Path(data_dir), lock_timeout_s=60)
    start.wait()
    for seq in range(posts):
        store.append("shared", f"writer-{writer}", f"w{writer}-s{seq} " + "x" * (seq % 300))


def check_channel(path: Path, writers: int, posts: int) -> None:
    raw = path.read_bytes()
    assert raw.endswith(b"\n")
    records = [json.loads(line) for line in raw.splitlines()]
    assert [r["id"] for r in records] == list(range(1, writers * posts + 1))
    seen = {}
    for record in records:
        seen[record["text"]] = record
    assert len(seen) == writers * posts
    for writer in range(writers):
        for seq in range(posts):
            text = f"w{writer}-s{seq} " + "x" * (seq % 300)
            assert seen[text]["sender"] == f"writer-{writer}"
    # Each writer's own posts appear in the order it made them.
    for writer in range(writers):
        mine = [r for r in records if r["sender"] == f"writer-{writer}"]
        assert [r["text"].split()[0] for r in mine] == [f"w{writer}-s{seq}" for seq in range(posts)]


@pytest.mark.slow
def test_eight_processes_posting_at_once_lose_nothing(data_dir: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    procs = [ctx.Process(target=_writer, args=(str(data_dir), w, POSTS, start)) for w in range(WRITERS)]
    for proc in procs:
        proc.start()
    start.set()
    for proc in procs:
        proc.join(180)
        assert proc.exitcode == 0
    check_channel(FileStore(data_dir).channel_path("shared"), WRITERS, POSTS)


@pytest.mark.slow
def test_eight_threads_posting_at_once_lose_nothing(data_dir: Path) -> None:
    start = threading.Event()
    errors: list[BaseException] = []

    def run(writer: int) -> None:
        try:
            _writer(str(data_dir), writer, POSTS, start)  # type: ignore[arg-type]
        except BaseException as exc:  # noqa: BLE001 - reported to the main thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(w,)) for w in range(WRITERS)]
    for thread in threads:
        thread.start()
    start.set()
    for thread in threads:
        thread.join(180)
    assert not errors
    check_channel(FileStore(data_dir).channel_path("shared"), WRITERS, POSTS)


def test_threads_sharing_one_store_object_lose_nothing(data_dir: Path) -> None:
    store = FileStore(data_dir)
    start = threading.Event()

    def run(writer: int) -> None:
        start.wait()
        for seq in range(100):
            store.append("shared", f"writer-{writer}", f"w{writer}-s{seq} ")

    threads = [threading.Thread(target=run, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    start.set()
    for thread in threads:
        thread.join(60)
    records = [json.loads(line) for line in store.channel_path("shared").read_bytes().splitlines()]
    assert [r["id"] for r in records] == list(range(1, 401))
    assert {r["text"] for r in records} == {f"w{w}-s{s} " for w in range(4) for s in range(100)}


def _relay_post(data_dir: Path, target: str, text: str, **env: str) -> dict[str, object]:
    """Post through the real ``relay`` CLI (text on stdin) and return the stored record."""
    command = [sys.executable, "-c", "from relay_stdio.cli import main; main()", "post", target, "--json"]
    environment = {**os.environ, "CLAUDE_CODEX_DATA_DIR": str(data_dir), "CLAUDE_CODEX_SENDER": "cli", **env}
    done = subprocess.run(command, input=text, env=environment, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    record: dict[str, object] = json.loads(done.stdout)
    return record


def test_processes_with_different_message_limits_never_reuse_an_id(data_dir: Path) -> None:
    """A process that may write 1 MB and one that may write 256 KB share a channel: the limit is what a
    process accepts to write, never how far any process reads."""
    big = "é" * 300_000  # 600,000 bytes of UTF-8: over the default limit, under this writer's
    first = _relay_post(data_dir, "big", "one")
    second = _relay_post(data_dir, "big", big, CLAUDE_CODEX_MAX_MESSAGE_BYTES="1000000")
    third = _relay_post(data_dir, "big", "after")
    assert [first["id"], second["id"], third["id"]] == [1, 2, 3]
    store = FileStore(data_dir)  # the default limit
    assert store.append("big", "lib", "from the library")["id"] == 4
    records = [json.loads(line) for line in store.channel_path("big").read_bytes().splitlines()]
    stored = [(r["id"], r["text"]) for r in records]
    assert stored == [(1, "one"), (2, big), (3, "after"), (4, "from the library")]
    # Readers with the default limit serve the big message, whole, by every read.
    assert [(m["id"], m["text"]) for m in store.read_last("big", 10)] == stored
    assert [m["text"] for m in store.read_since("big", 1, 1)[0]] == [big]
    assert [m["id"] for m in store.read_before("big", 4, 2)[0]] == [2, 3]
    assert store.stats("big").latest_id == 4
    # relay check (default limit) finds nothing wrong, and --repair moves nothing.
    report = check_store(store)
    assert report.problems == []
    assert check_store(store, repair=True).repaired == 0
    assert not list(store.channels_dir.glob("big.jsonl.quarantine-*"))


def test_the_writer_finds_the_last_id_behind_a_long_last_line_without_reading_it(data_dir: Path) -> None:
    """The id of a last line longer than any relay writes comes from its start; it is never reused."""
    store = FileStore(data_dir)
    store.append("t", "a", "one")
    path = store.channel_path("t")
    with path.open("r+b") as out:  # a hand-made line of MAX_LINE + 1 bytes, as a sparse file
        out.seek(0, os.SEEK_END)
        head = b'{"id": 2, "ts": 1.0, "target": "t", "sender": "s", "text": "'
        out.write(head)
        out.seek(jsonl.MAX_LINE + 1 - len(head) - 2, os.SEEK_CUR)
        out.write(b'"}\n')
    tracemalloc.start()
    try:
        record = FileStore(data_dir).append("t", "a", "after")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert record["id"] == 3
    assert peak < 4 * 1024 * 1024  # the long line was never held in memory
    assert [m["id"] for m in store.read_last("t", 5)] == [1, 3]
