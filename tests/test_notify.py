"""Change notifications for waiters: real inotify on real folders, real writes from another process, and
the instances a process holds counted in /proc."""

import contextlib
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import anyio
import pytest
from mcp import Client

from relay_stdio.server import build_server
from shared.relay import Relay
from shared.storage.files.notify import open_notifier
from shared.storage.files.store import FileStore

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify is Linux-only")
HANG_GUARD_S = 30


def inotify_instances(pid: int | str = "self") -> int:
    """The inotify instances a process holds: its descriptors that link to anon_inode:inotify."""
    fds = Path(f"/proc/{pid}/fd")
    count = 0
    for fd in fds.iterdir():
        with contextlib.suppress(OSError):  # closed since the listing
            count += os.readlink(fd) == "anon_inode:inotify"
    return count


def released(timeout_s: float = HANG_GUARD_S) -> bool:
    """Whether the process's instance is closed within ``timeout_s`` (it lingers LINGER_S when idle)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if inotify_instances() == 0:
            return True
        time.sleep(0.05)
    return False


def test_a_post_from_another_process_wakes_the_notifier(data_dir: Path) -> None:
    store = FileStore(data_dir)
    store.append("proj-x", "a", "first")
    notifier = store.subscribe()
    assert notifier is not None
    with notifier:
        assert not notifier.wait(0)
        code = (
            "import sys; from shared.storage.files.store import FileStore as S; "
            "S(sys.argv[1]).append('t2', 'b', 'x')"
        )
        subprocess.run([sys.executable, "-c", code, str(data_dir)], check=True, timeout=60)
        assert notifier.wait(HANG_GUARD_S)
        assert not notifier.wait(0)  # that change has been seen
        store.append("new-channel", "a", "creating a file is a change too")
        assert notifier.wait(HANG_GUARD_S)


def test_a_change_between_a_look_and_the_wait_is_not_missed(data_dir: Path) -> None:
    store = FileStore(data_dir)
    store.append("t", "a", "creates the folder")
    with store.subscribe() as notifier:  # type: ignore[union-attr]
        store.append("t", "a", "lands before the waiter sleeps")
        assert notifier.wait(HANG_GUARD_S)


def test_no_notifier_for_a_missing_folder(tmp_path: Path) -> None:
    assert open_notifier(tmp_path / "missing") is None


def test_closing_twice_is_harmless(data_dir: Path) -> None:
    notifier = FileStore(data_dir).subscribe()
    assert notifier is not None
    notifier.close()
    notifier.close()
    assert notifier.wait(0) is False


def test_every_wait_of_a_process_shares_one_instance_released_when_idle(data_dir: Path) -> None:
    store = FileStore(data_dir)
    store.append("t", "a", "creates the folder")
    waiters = [store.subscribe() for _ in range(8)]
    other = FileStore(data_dir.parent / "other")
    other.append("u", "a", "a second store in the same process")
    waiters.append(other.subscribe())
    assert all(waiters)
    assert inotify_instances() == 1
    woken: list[bool] = []
    threads = [threading.Thread(target=lambda n=n: woken.append(n.wait(HANG_GUARD_S))) for n in waiters[:8]]
    for thread in threads:
        thread.start()
    store.append("t", "b", "wakes all eight")
    for thread in threads:
        thread.join()
    assert woken == [True] * 8
    assert not waiters[8].wait(0)  # the other store's folder did not change
    for notifier in waiters:
        notifier.close()  # type: ignore[union-attr]
    assert released()


@pytest.mark.anyio
async def test_concurrent_mcp_waits_hold_one_instance_and_none_after(relay: Relay) -> None:
    relay.post("proj-x", "creates the folder", "claude", source="mcp")
    results: list[list[str]] = []
    started = anyio.Event()
    waiting: list[float] = []

    async def progress(waited: float, total: float | None, message: str | None) -> None:
        waiting.append(waited)  # the first comes once the wait's notifier is open and it found nothing
        if len(waiting) == 8:
            started.set()

    async with Client(build_server(relay, identity="claude"), raise_exceptions=True) as client:

        async def wait() -> None:
            arguments = {"target": "proj-x", "since_id": 1}
            result = await client.call_tool("wait_for_messages", arguments, progress_callback=progress)
            assert result.structured_content is not None
            results.append([m["text"] for m in result.structured_content["messages"]])

        with anyio.fail_after(HANG_GUARD_S):
            async with anyio.create_task_group() as group:
                for _ in range(8):
                    group.start_soon(wait)
                await started.wait()
                assert inotify_instances() == 1
                relay.post("proj-x", "for all eight", "codex", source="cli")
    assert results == [["for all eight"]] * 8
    assert await anyio.to_thread.run_sync(released)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
