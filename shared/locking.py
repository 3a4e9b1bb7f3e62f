"""An exclusive ``flock`` with a bounded wait that never sleeps past the moment the lock is free.

The store takes one around every append, and the read positions around every update. filelock
(still used for ``relay watch``'s one-watcher lock) re-opens and re-checks its lock file on each
acquire and polls every 50 ms by default, which costs more than a whole append; this takes the same
kind of lock (``flock`` on the same file, so a ``filelock.FileLock`` on that path excludes it and vice
versa) in one system call when it is free, and waits in the kernel when it is not. Inside
:func:`without_waiting` it does not wait at all (see ``shared/offload.py``).
"""

from __future__ import annotations

import errno
import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from shared.fsutil import open_private

_OPEN_FLAGS = os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)


_SPIN_S = 0.001


class LockTimeout(TimeoutError):
    """The lock was not free within the allowed time."""


class WouldWait(Exception):
    """A lock was busy inside :func:`without_waiting`; nothing was done under it."""


_NO_WAITING: ContextVar[bool] = ContextVar("relay_lock_no_waiting", default=False)


@contextmanager
def without_waiting() -> Iterator[None]:
    """Within this block a busy lock raises WouldWait at once instead of being waited for.

    For code on an event loop: it does the (usually uncontended) work in place and hands it to a
    worker thread only when it would have to wait, so a stopped lock holder never stalls the loop.
    """
    token = _NO_WAITING.set(True)
    try:
        yield
    finally:
        _NO_WAITING.reset(token)


def waiting_allowed() -> bool:
    """False inside :func:`without_waiting`."""
    return not _NO_WAITING.get()


def open_lock_file(path: str) -> int:
    """Open (creating it if needed) a lock file and return its descriptor."""
    return open_private(path, _OPEN_FLAGS)


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
    thread (closed once it gets the lock), an OSError closes it. Only a WouldWait (inside
    :func:`without_waiting`) leaves it with the caller, unlocked.
    """
    if not waiting_allowed():
        try:
            if _try_lock(fd):
                return
        except OSError:
            os.close(fd)
            raise
        raise WouldWait(path)
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


@contextmanager
def held(path: str, timeout_s: float) -> Iterator[None]:
    """Hold an exclusive flock on the lock file ``path`` (opened for the occasion) within ``timeout_s``.

    Raises LockTimeout, WouldWait (inside :func:`without_waiting`) or OSError like :func:`wait_for_flock`.
    """
    fd = open_lock_file(path)
    try:
        wait_for_flock(fd, timeout_s, path)
    except WouldWait:
        os.close(fd)  # the one failure that leaves the descriptor with us
        raise
    try:
        yield
    finally:
        os.close(fd)  # releases the lock
