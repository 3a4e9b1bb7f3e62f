"""Open descriptors of channel files and their lock files, kept between appends.

Opening and closing two files per post costs as much as the rest of the append, so each process keeps
them open. Threads of one process share one descriptor per file and take turns through a mutex
(``flock`` does not exclude two threads using the same descriptor); processes exclude each other
with ``flock`` on the lock file. Only ``shared.store`` uses this module.
"""

from __future__ import annotations

import fcntl
import os
import stat
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

from shared.fsutil import open_private
from shared.locking import LockTimeout, WouldWait, open_lock_file, wait_for_flock, waiting_allowed

DATA_FLAGS = os.O_RDWR | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


class _Handle:
    def __init__(self, lock_path: str, data_path: str) -> None:
        self.lock_path = lock_path
        self.data_path = data_path
        self.mutex = threading.Lock()
        self.lock_fd: int | None = None
        self.data_fd: int | None = None
        self.data_id: tuple[int, int] = (0, 0)

    def current_data_fd(self) -> int:
        """The channel file's descriptor, re-opened if the file was removed or replaced since."""
        try:
            st = os.lstat(self.data_path)
            same = self.data_fd is not None and (st.st_dev, st.st_ino) == self.data_id
            same = same and stat.S_ISREG(st.st_mode)
        except FileNotFoundError:
            same = False
        if same:
            assert self.data_fd is not None
            return self.data_fd
        self.close_data()
        fd = open_private(self.data_path, DATA_FLAGS)  # ELOOP for a symlink: never followed
        st = os.fstat(fd)
        self.data_fd, self.data_id = fd, (st.st_dev, st.st_ino)
        return fd

    def close_data(self) -> None:
        if self.data_fd is not None:
            fd, self.data_fd = self.data_fd, None
            os.close(fd)

    def close(self) -> None:
        self.close_data()
        if self.lock_fd is not None:
            fd, self.lock_fd = self.lock_fd, None
            os.close(fd)


class HandleCache:
    """Per-process handles of recently written channels (at most ``capacity`` kept open)."""

    def __init__(self, capacity: int = 64) -> None:
        self.capacity = capacity
        self._handles: OrderedDict[str, _Handle] = OrderedDict()
        self._guard = threading.Lock()
        self._pid = os.getpid()

    def _get(self, key: str, lock_path: str, data_path: str) -> _Handle:
        with self._guard:
            if os.getpid() != self._pid:  # a forked child must not share its parent's lock descriptors
                for inherited in self._handles.values():
                    inherited.close()
                self._handles.clear()
                self._pid = os.getpid()
            handle = self._handles.get(key)
            if handle is None:
                handle = self._handles[key] = _Handle(lock_path, data_path)
                self._evict()
            self._handles.move_to_end(key)
            return handle

    def _evict(self) -> None:
        for key in list(self._handles)[: max(0, len(self._handles) - self.capacity)]:
            handle = self._handles[key]
            if handle.mutex.acquire(blocking=False):
                try:
                    handle.close()
                    del self._handles[key]
                finally:
                    handle.mutex.release()

    @contextmanager
    def locked(
        self, key: str, lock_path: str, data_path: str, timeout_s: float, open_file: bool = True
    ) -> Iterator[int]:
        """Hold the channel exclusively and yield its data file descriptor (opened for appending), or
        -1 when ``open_file`` is false.

        Raises:
            LockTimeout: another thread or process held the channel for ``timeout_s``.
            WouldWait: it was busy inside :func:`shared.locking.without_waiting`.
            OSError: a file could not be opened (ELOOP for a symlinked channel file).
        """
        deadline = time.monotonic() + timeout_s
        handle = self._get(key, lock_path, data_path)
        if not waiting_allowed():
            if not handle.mutex.acquire(blocking=False):
                raise WouldWait(lock_path)
        elif not handle.mutex.acquire(timeout=timeout_s):
            raise LockTimeout(f"{lock_path} stayed locked for more than {timeout_s:g} s (in this process)")
        try:
            if handle.lock_fd is None:
                handle.lock_fd = open_lock_file(lock_path)
            try:
                wait_for_flock(handle.lock_fd, max(0.0, deadline - time.monotonic()), lock_path)
            except WouldWait:
                raise  # the descriptor is still ours
            except BaseException:
                handle.lock_fd = None  # the descriptor now belongs to the waiting thread, or is closed
                raise
            try:
                if open_file:
                    yield handle.current_data_fd()
                else:
                    handle.close_data()  # the caller may replace or move the file
                    yield -1
            finally:
                fcntl.flock(handle.lock_fd, fcntl.LOCK_UN)
        finally:
            handle.mutex.release()

    def close(self) -> None:
        """Close every kept descriptor (the store is going away)."""
        with self._guard:
            for handle in self._handles.values():
                handle.close()
            self._handles.clear()
