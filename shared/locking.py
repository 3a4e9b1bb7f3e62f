"""An exclusive ``flock`` on a lock file, with a bounded wait that never sleeps for long.

The store takes one of these around every append. filelock (used for the slower, rarer locks such as
read positions) re-opens and re-checks its lock file on each acquire and polls every 50 ms by
default, which costs more than a whole append; this takes the same kind of lock (``flock`` on the
same file, so a ``filelock.FileLock`` on that path excludes it and vice versa) in one system call
when it is free, and polls with a short back-off when it is not.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
from pathlib import Path

# Back-off between attempts while another process holds the lock: short enough that a waiting
# writer is never asleep long after the holder (whose critical section takes tens of microseconds)
# has let go.
_FIRST_WAIT_S = 0.00002
_MAX_WAIT_S = 0.0005
_OPEN_FLAGS = os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)


class LockTimeout(TimeoutError):
    """The lock was not free within the allowed time."""


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
            return False
        raise
    return True


class ExclusiveLock:
    """An exclusive flock on ``path`` (created if missing), held from ``acquire`` to ``release``."""

    def __init__(self, path: Path, timeout_s: float) -> None:
        self.path = path
        self.timeout_s = timeout_s
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, waiting at most ``timeout_s``.

        Raises:
            LockTimeout: the lock stayed taken for ``timeout_s`` seconds.
            OSError: the lock file cannot be opened (missing folder, permissions, a symlink).
        """
        fd = os.open(self.path, _OPEN_FLAGS, 0o644)
        try:
            if not _try_lock(fd):
                self._wait(fd)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def _wait(self, fd: int) -> None:
        deadline = time.monotonic() + self.timeout_s
        wait = _FIRST_WAIT_S
        while True:
            time.sleep(wait)
            if _try_lock(fd):
                return
            if time.monotonic() >= deadline:
                raise LockTimeout(f"{self.path} stayed locked for more than {self.timeout_s:g} s")
            wait = min(wait * 2, _MAX_WAIT_S)

    def release(self) -> None:
        """Let go of the lock (closing the only descriptor releases it)."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)
