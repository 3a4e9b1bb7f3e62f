"""Many writers at once: every message kept exactly once, ids contiguous in file order."""

import json
import multiprocessing
import threading
from pathlib import Path

import pytest

from shared.store import FileStore

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
