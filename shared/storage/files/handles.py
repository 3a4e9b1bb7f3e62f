"""Open descriptors of channel files and their lock files, kept between appends.

Opening and closing two files per post costs as much as the rest of the append, so each process keeps
them open. Threads of one process share one descriptor per file and take turns through a mutex
(``flock`` does not exclude two threads using the same descriptor); processes exclude each other
with ``flock`` on the lock file, and again on the channel file itself, so that even a lock file
removed while a writer holds it lets no second writer in. Only the file store (``store.py``) uses
this module.
"""

from __future__ import annotations

import errno
import os
import resource
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

from shared.fsutil import open_private
from shared.storage.files.locking import LockFile, LockTimeout, WouldWait, waiting_allowed

DATA_FLAGS = os.O_RDWR | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_EXISTING_DATA_FLAGS = DATA_FLAGS & ~os.O_CREAT
OUT_OF_DESCRIPTORS = (errno.EMFILE, errno.ENFILE)
_NOT_A_FILE = (errno.ENOENT, errno.ELOOP, errno.EINVAL)


def _open_data(path: str) -> int:
    return open_private(path, DATA_FLAGS)  # ELOOP for a symlink: never followed


def _open_existing_data(path: str) -> int:
    return os.open(path, _EXISTING_DATA_FLAGS)


def default_capacity() -> int:
    """How many channels' descriptors to keep: 64, or fewer under a low descriptor limit.

    Each kept channel holds two descriptors; keeping at most 1/8 of the limit's worth leaves the rest
    to reads, logs, sockets and the MCP transport (under ``ulimit -n 64``: 4 channels, 8 descriptors).
    """
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 64
    return max(1, min(64, soft // 16))


class _Handle:
    def __init__(self, lock_path: str, data_path: str) -> None:
        self.lock = LockFile(lock_path)
        self.data = LockFile(data_path, _open_data)
        self.moving: LockFile | None = None  # the channel file's lock during a repair (see _lock_both)
        self.mutex = threading.Lock()
        self.users = 0  # threads between HandleCache._get and the end of their use; under the cache's guard

    def close(self) -> None:
        self.data.close()
        self.lock.close()


class HandleCache:
    """Per-process handles of recently written channels (at most ``capacity`` kept open while idle)."""

    def __init__(self, capacity: int | None = None) -> None:
        self.capacity = capacity if capacity is not None else default_capacity()
        self._handles: OrderedDict[str, _Handle] = OrderedDict()
        self._guard = threading.Lock()
        self._pid = os.getpid()

    def _get(self, key: str, lock_path: str, data_path: str) -> _Handle:
        """The handle of ``key``, pinned (so no eviction closes it) until :meth:`_put` is called."""
        with self._guard:
            if os.getpid() != self._pid:  # a forked child must not share its parent's lock descriptors
                for inherited in self._handles.values():
                    inherited.close()
                self._handles.clear()
                self._pid = os.getpid()
            handle = self._handles.get(key)
            if handle is None:
                handle = self._handles[key] = _Handle(lock_path, data_path)
            self._handles.move_to_end(key)
            handle.users += 1
            self._evict(self.capacity)
            return handle

    def _put(self, handle: _Handle) -> None:
        with self._guard:
            handle.users -= 1

    def _evict(self, keep: int) -> None:
        """Close the least recently used idle handles beyond ``keep`` (call with the guard held)."""
        for key in list(self._handles)[: max(0, len(self._handles) - keep)]:
            handle = self._handles[key]
            if handle.users == 0:  # nobody holds or waits for it, and nobody can get it meanwhile
                del self._handles[key]
                handle.close()

    def shed(self) -> None:
        """Close every idle handle: the process ran out of descriptors."""
        with self._guard:
            self._evict(0)

    @contextmanager
    def locked(
        self, key: str, lock_path: str, data_path: str, timeout_s: float, open_file: bool = True
    ) -> Iterator[int]:
        """Hold the channel exclusively and yield its data file descriptor (opened for appending), or
        -1 when ``open_file`` is false.

        Raises:
            LockTimeout: another thread or process held the channel for ``timeout_s``.
            WouldWait: it was busy inside :func:`shared.storage.files.locking.without_waiting`.
            OSError: a file could not be opened (ELOOP for a symlink, EINVAL for a file that is not a
                regular one; ``filename`` names it). Running out of descriptors (EMFILE, ENFILE) first
                closes the idle handles and tries once more.
        """
        deadline = time.monotonic() + timeout_s
        handle = self._get(key, lock_path, data_path)
        try:
            if not waiting_allowed():
                if not handle.mutex.acquire(blocking=False):
                    raise WouldWait(lock_path)
            elif not handle.mutex.acquire(timeout=timeout_s):
                raise LockTimeout(f"{lock_path} stayed locked for over {timeout_s:g} s (in this process)")
            try:
                fd = self._take(handle, deadline, open_file)
                try:
                    yield fd
                finally:
                    handle.data.release()
                    if handle.moving is not None:
                        handle.moving.close()  # the caller may have replaced or moved the file
                        handle.moving = None
                    handle.lock.release()
            finally:
                handle.mutex.release()
        finally:
            self._put(handle)

    def _take(self, handle: _Handle, deadline: float, open_file: bool) -> int:
        """Lock the lock file, then the channel file; on running out of descriptors, shed and retry once."""
        try:
            return _lock_both(handle, deadline, open_file)
        except OSError as exc:
            if exc.errno not in OUT_OF_DESCRIPTORS:
                raise
        self.shed()
        return _lock_both(handle, deadline, open_file)

    def close(self) -> None:
        """Close every kept descriptor (the store is going away)."""
        with self._guard:
            for handle in self._handles.values():
                handle.close()
            self._handles.clear()


def _lock_both(handle: _Handle, deadline: float, open_file: bool) -> int:
    """Lock the lock file, then the channel file (or, with ``open_file`` false, the channel file only
    if it is a regular file already: a repair may be about to move a symlink aside)."""
    handle.lock.acquire(max(0.0, deadline - time.monotonic()))
    try:
        if open_file:
            return handle.data.acquire(max(0.0, deadline - time.monotonic()))
        handle.data.close()  # the caller may replace or move the file
        moving = LockFile(handle.data.path, _open_existing_data)
        try:
            moving.acquire(max(0.0, deadline - time.monotonic()))
        except BaseException as exc:
            moving.close()
            if isinstance(exc, OSError) and not isinstance(exc, LockTimeout) and exc.errno in _NOT_A_FILE:
                return -1  # no regular file there to protect
            raise
        handle.moving = moving
        return -1
    except BaseException:
        handle.lock.release()
        raise
