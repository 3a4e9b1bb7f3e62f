"""The kept descriptors and lock waits of ``shared/handles.py`` and ``shared/locking.py``: nothing leaks,
whatever the timeouts, evictions and descriptor limits."""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from shared.errors import StoreBusy
from shared.storage.files import locking
from shared.storage.files.handles import HandleCache
from shared.storage.files.store import FileStore
from tests import fault_workers
from tests.test_faults_lock import wait_until_stopped


def open_descriptors(under: Path) -> int:
    """This process's descriptors of files under ``under`` (other tests' leftovers do not count)."""
    found = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # closed meanwhile (the listing's own descriptor)
            found += os.readlink(f"/proc/self/fd/{fd}").startswith(str(under))
    return found


def lock_waiters() -> int:
    return sum(thread.name == "relay-lock-wait" for thread in threading.enumerate())


def settle(expected: tuple[int, int], under: Path) -> tuple[int, int]:
    """Waiting threads and descriptors once they are back to ``expected`` (or after 10 s)."""
    for _ in range(1000):
        now = (lock_waiters(), open_descriptors(under))
        if now == expected:
            break
        time.sleep(0.01)
    return now


def test_busy_errors_leave_no_threads_or_descriptors_behind(tmp_path: Path) -> None:
    """50 "store busy" errors (store posts and bare locks) wait in one thread at most, which is gone
    once the lock frees: no pile of threads blocked in flock, no stampede when the holder lets go."""
    data_dir = tmp_path / "data"
    store = FileStore(data_dir, lock_timeout_s=0.02)
    store.append("t", "before", "one")
    ready = tmp_path / "locked"
    lock_path = str(store.locks_dir / "t.lock")
    holder = multiprocessing.get_context("spawn").Process(
        target=fault_workers.hold_lock, args=(lock_path, str(ready))
    )
    holder.start()
    assert holder.pid is not None
    try:
        while not ready.exists():
            time.sleep(0.005)
        wait_until_stopped(holder.pid)
        holding = (lock_waiters(), open_descriptors(data_dir))
        for _ in range(40):
            with pytest.raises(StoreBusy):
                store.append("t", "impatient", "never posted")
        for _ in range(10):
            with pytest.raises(locking.LockTimeout), locking.held(lock_path, 0.02):
                pass
        during = (lock_waiters() - holding[0], open_descriptors(data_dir) - holding[1])
    finally:
        os.kill(holder.pid, signal.SIGCONT)
        holder.join(60)
    assert during[0] <= 1 and during[1] <= 1, during  # one waiting thread, with one descriptor
    assert settle(holding, data_dir) == holding  # and that one is gone once the lock is free
    holder.close()
    assert store.append("t", "after", "two")["id"] == 2
    assert [m["text"] for m in store.read_last("t", 5)] == ["one", "two"]


def test_evicting_handles_never_closes_one_in_use_or_leaks(tmp_path: Path) -> None:
    """Capacity 2, 8 threads and 6 channels: every append lands, and closing the cache closes everything."""
    cache = HandleCache(capacity=2)
    (tmp_path / "locks").mkdir()
    (tmp_path / "channels").mkdir()
    errors: list[BaseException] = []

    def run(writer: int) -> None:
        try:
            for seq in range(300):
                key = f"c{(writer + seq) % 6}"
                lock, data = str(tmp_path / "locks" / f"{key}.lock"), str(tmp_path / "channels" / key)
                with cache.locked(key, lock, data, 30) as fd:
                    os.write(fd, f"{writer} {seq}\n".encode())
        except BaseException as exc:  # noqa: BLE001 - reported to the main thread
            errors.append(exc)

    workers = [threading.Thread(target=run, args=(w,)) for w in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    assert not errors
    # At most the capacity and the handles the 8 threads had pinned at the last eviction, 2 each.
    assert open_descriptors(tmp_path) <= 2 * (2 + 8)
    cache.close()
    assert settle((0, 0), tmp_path)[1] == 0
    files = [tmp_path / "channels" / f"c{key}" for key in range(6)]
    lines = [line for path in files for line in path.read_text().splitlines()]
    assert sorted(lines) == sorted(f"{w} {s}" for w in range(8) for s in range(300))


LOW_LIMIT = """
import json, os, resource, sys
from pathlib import Path
resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
from shared.storage.files.store import FileStore
store = FileStore(Path(sys.argv[1]))
ids = [store.append(f"c{i}", "a", f"first {i}")["id"] for i in range(100)]
spare = []
try:  # use up what the process has left, as a busy server would
    while True:
        spare.append(os.open("/dev/null", os.O_RDONLY))
except OSError:
    os.close(spare.pop())
ids += [store.append(f"c{i}", "a", f"second {i}")["id"] for i in range(100, 110)]
texts = [m["text"] for i in range(100, 110) for m in store.read_last(f"c{i}", 5)]
print(json.dumps({"ids": ids, "texts": texts, "spare": len(spare)}))
"""


def test_posts_to_many_channels_under_a_low_descriptor_limit_never_fail(tmp_path: Path) -> None:
    """Under `ulimit -n 64`, 110 channels, the last 10 with every spare descriptor taken: all posted."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run(
        [sys.executable, "-c", LOW_LIMIT, str(tmp_path / "data")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["ids"] == [1] * 110 and result["spare"] > 0
    assert result["texts"] == [f"second {i}" for i in range(100, 110)]
