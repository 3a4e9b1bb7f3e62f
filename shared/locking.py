"""An exclusive ``flock`` with a bounded wait that never sleeps past the moment the lock is free.

The store takes one around every append. filelock (used for the rarer locks such as read positions)
re-opens and re-checks its lock file on each acquire and polls every 50 ms by default, which costs more
than a whole append; this takes the same kind of lock (``flock`` on the same file, so a
``filelock.FileLock`` on that path excludes it and vice versa) in one system call when it is free, and
waits in the kernel when it is not.
"""

from __future__ import annotations

import errno
import fcntl
import os
import threading
import time

_OPEN_FLAGS = os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)


_SPIN_S = 0.001


class LockTimeout(TimeoutError):
    """The lock was not free within the allowed time."""


def open_lock_file(path: str) -> int:
    """Open (creating it if needed) a lock file and return its descriptor."""
    return os.open(path, _OPEN_FLAGS, 0o644)


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EACCES):
            return False
        raise
    return True


class _BlockingWait:
    """A blocking flock in a helper thread, so the wait can be bounded.

    Waiting in the kernel (rather than sleeping and re-trying) hands the lock over the moment its
    holder lets go, which keeps the slowest posts close to the typical one; a flock call cannot be
    given a timeout, so a thread blocks and the caller waits on an event. If the caller gives up, the
    thread keeps the descriptor and closes it once it gets the lock.
    """

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.done = threading.Event()
        self.guard = threading.Lock()
        self.abandoned = False
        self.error: OSError | None = None

    def _block(self) -> None:
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except OSError as exc:
            self.error = exc
        with self.guard:
            if self.abandoned:
                os.close(self.fd)
                return
            self.done.set()

    def wait(self, timeout_s: float, path: str) -> None:
        threading.Thread(target=self._block, name="relay-lock-wait", daemon=True).start()
        if not self.done.wait(timeout_s):
            with self.guard:
                if not self.done.is_set():
                    self.abandoned = True
                    raise LockTimeout(f"{path} stayed locked for more than {timeout_s:g} s")
        if self.error is not None:
            os.close(self.fd)
            raise self.error


def wait_for_flock(fd: int, timeout_s: float, path: str) -> None:
    """Take an exclusive flock on ``fd`` within ``timeout_s``.

    On failure the descriptor is no longer the caller's: a LockTimeout leaves it with the waiting
    thread (closed once it gets the lock), an OSError closes it.
    """
    try:
        # A holder keeps the lock for tens of microseconds: yielding the CPU to it a few times usually
        # gets the lock sooner than handing the wait to a thread (which costs a thread start and two
        # wake-ups, milliseconds on a busy machine).
        deadline = time.monotonic() + min(_SPIN_S, timeout_s)
        while True:
            if _try_lock(fd):
                return
            if time.monotonic() >= deadline:
                break
            os.sched_yield()
    except OSError:
        os.close(fd)
        raise
    _BlockingWait(fd).wait(max(0.0, timeout_s - _SPIN_S), path)
