"""Being told when a file in a folder changes (Linux inotify through ctypes), so waiters sleep until a
post lands instead of waking every few milliseconds to look.

Only the store creates these (``FileStore.change_notifier``). Where inotify is missing (macOS,
Windows, a container without it, the per-user watch limit reached) ``open_notifier`` returns None and
waiters fall back to comparing the channel's change token on a short timer; they also keep a slow
timer when notified, because inotify does not see writes made by another machine on a network mount.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import logging
import os
import sys
import threading
from pathlib import Path

log = logging.getLogger("relay.notify")

_IN_NONBLOCK = 0o4000
_IN_CLOEXEC = 0o2000000
# A write (append), a new file, a file moved in (repair, replace), a file cut or removed.
_IN_MODIFY, _IN_ATTRIB, _IN_MOVED_TO, _IN_CREATE, _IN_DELETE = 0x2, 0x4, 0x80, 0x100, 0x200
_MASK = _IN_MODIFY | _IN_ATTRIB | _IN_MOVED_TO | _IN_CREATE | _IN_DELETE

_libc: ctypes.CDLL | None = None


def _load_libc() -> ctypes.CDLL | None:
    global _libc
    if _libc is None and sys.platform.startswith("linux"):
        name = ctypes.util.find_library("c") or "libc.so.6"
        try:
            libc = ctypes.CDLL(name, use_errno=True)
            _ = (libc.inotify_init1, libc.inotify_add_watch)
        except (OSError, AttributeError):
            return None
        _libc = libc
    return _libc


class Notifier:
    """An inotify descriptor watching one folder; readable whenever something in it changed.

    ``close`` hands it back to its pool when it came from one: closing an inotify descriptor waits for
    the kernel to retire its watches, ~10 ms, which would otherwise be added to every wait.
    """

    def __init__(self, fd: int, pool: NotifierPool | None = None) -> None:
        self.fd = fd
        self.pool = pool

    def fileno(self) -> int:
        return self.fd

    def drain(self) -> None:
        """Discard the pending events (the caller re-checks what it cares about)."""
        try:
            while os.read(self.fd, 65536):
                pass
        except BlockingIOError:
            pass

    def close(self) -> None:
        if self.pool is not None:
            pool, self.pool = self.pool, None
            pool.put(self)
        elif self.fd >= 0:
            fd, self.fd = self.fd, -1
            os.close(fd)

    def __enter__(self) -> Notifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class NotifierPool:
    """Idle notifiers on one folder, reused by the next waiter in this process."""

    def __init__(self, folder: Path, keep: int = 8) -> None:
        self.folder = folder
        self.keep = keep
        self._idle: list[Notifier] = []
        self._guard = threading.Lock()
        self._pid = os.getpid()

    def get(self) -> Notifier | None:
        """A notifier with no pending events, or None where inotify cannot be used."""
        with self._guard:
            if os.getpid() != self._pid:  # a forked child must not read its parent's events
                self._idle, self._pid = [], os.getpid()
            if self._idle:
                reused = self._idle.pop()
                reused.pool = self
                reused.drain()
                return reused
        fresh = open_notifier(self.folder)
        if fresh is not None:
            fresh.pool = self
        return fresh

    def put(self, notifier: Notifier) -> None:
        with self._guard:
            if len(self._idle) < self.keep and os.getpid() == self._pid:
                self._idle.append(notifier)
                return
        # Closing waits for the kernel; do it off the caller's path.
        threading.Thread(target=notifier.close, name="relay-notifier-close", daemon=True).start()


def open_notifier(folder: Path) -> Notifier | None:
    """A notifier for changes to files in ``folder``, or None where inotify cannot be used."""
    libc = _load_libc()
    if libc is None:
        return None
    fd = libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
    if fd < 0:
        log.info("inotify unavailable (%s); waiting by polling", os.strerror(ctypes.get_errno()))
        return None
    if libc.inotify_add_watch(fd, os.fsencode(folder), _MASK) < 0:
        err = ctypes.get_errno()
        os.close(fd)
        if err != errno.ENOENT:
            log.info("cannot watch %s (%s); waiting by polling", folder, os.strerror(err))
        return None
    return Notifier(fd)
