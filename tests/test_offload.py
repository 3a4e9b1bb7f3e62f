"""Store calls from an event loop: in place when the locks are free, on a thread when one is busy."""

from __future__ import annotations

import threading
from pathlib import Path

import anyio
import filelock
import pytest

from shared.config import resolve_config
from shared.relay import Relay
from shared.storage import offload
from shared.storage.files.locking import WouldWait, without_waiting
from shared.storage.files.store import FileStore


def test_a_busy_channel_lock_is_not_waited_for_inside_without_waiting(store: FileStore) -> None:
    store.append("t", "a", "first")
    with filelock.FileLock(str(store.locks_dir / "t.lock")), without_waiting(), pytest.raises(WouldWait):
        store.append("t", "a", "never written")
    assert [m["text"] for m in store.read_last("t", 10)] == ["first"]
    assert store.append("t", "a", "second")["id"] == 2  # the cached descriptors still work


def test_a_lock_held_by_another_thread_of_this_process_is_not_waited_for(store: FileStore) -> None:
    store.append("t", "a", "first")
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        with store._handles.locked("t", str(store.locks_dir / "t.lock"), str(store.channel_path("t")), 5):
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert holding.wait(10)
        with without_waiting(), pytest.raises(WouldWait):
            store.append("t", "a", "never written")
    finally:
        release.set()
        holder.join()
    assert [m["id"] for m in store.read_last("t", 10)] == [1]


@pytest.mark.anyio
async def test_offload_runs_in_place_when_free_and_on_a_thread_when_busy(tmp_path: Path) -> None:
    relay = Relay(resolve_config({"data_dir": str(tmp_path)}, env={}))
    loop_thread = threading.get_ident()
    threads: list[int] = []

    def post(text: str) -> int:
        threads.append(threading.get_ident())
        return int(relay.post("t", text, "a", source="cli")["id"])

    assert await offload.run(lambda: post("free")) == 1
    assert threads == [loop_thread]

    lock = filelock.FileLock(str(tmp_path / "locks" / "t.lock"))
    lock.acquire()
    done: list[str] = []

    async def busy_post() -> None:
        assert await offload.run(lambda: post("waited")) == 2
        done.append("post")

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(busy_post)
        await anyio.sleep(0.05)
        # The loop is not stalled by the waiting post: a read-position fetch runs and returns.
        fetched = await offload.run(lambda: relay.fetch("t", identity="b"))
        assert [m["text"] for m in fetched["messages"]] == ["free"]
        done.append("fetch")
        lock.release()
    assert done == ["fetch", "post"]
    assert threads[0] == loop_thread and threads[1] == loop_thread and threads[2] != loop_thread
    assert [(m["id"], m["text"]) for m in relay.store.read_last("t", 10)] == [(1, "free"), (2, "waited")]


@pytest.mark.anyio
async def test_a_busy_read_position_is_waited_for_on_a_thread(tmp_path: Path) -> None:
    relay = Relay(resolve_config({"data_dir": str(tmp_path)}, env={}))
    relay.post("t", "hello", "a", source="cli")
    relay.fetch("t", identity="b", limit=1)  # creates b's read-position file
    relay.post("t", "again", "a", source="cli")
    lock_path = next((tmp_path / "cursors").glob("b.json.lock"))
    with filelock.FileLock(str(lock_path)), without_waiting(), pytest.raises(WouldWait):
        relay.fetch("t", identity="b")
    assert relay.store.get_position("b", "t") == 1  # nothing moved
    fetched = await offload.run(lambda: relay.fetch("t", identity="b"))
    assert [m["text"] for m in fetched["messages"]] == ["again"] and relay.store.get_position("b", "t") == 2
