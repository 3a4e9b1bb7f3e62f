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
import stat
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
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


class _Waiter:
    """The one thread of this process blocked in ``flock`` on a lock file, on a descriptor of its own.

    Waiting in the kernel (rather than sleeping and re-trying) hands the lock over the moment its
    holder lets go, which keeps the slowest posts close to the typical one. A flock call can be given
    no timeout and cannot be interrupted, so a caller that gives up leaves its thread blocked; to keep
    "store busy" errors from piling up threads and descriptors (which would all wake at once when the
    lock frees), a process has at most one such thread per lock file: later callers wait for it
    instead of starting another. When it gets the lock it hands its descriptor, locked, to one caller
    still waiting, or closes it (letting the lock go) when nobody is.
    """

    def __init__(self, path: str, fd: int) -> None:
        self.path = path
        self.fd = fd
        self.claimers = 0  # callers waiting for this thread now
        self.finished = False  # the flock call returned
        self.taken = False  # a caller took the locked descriptor
        self.error: OSError | None = None

    def is_finished(self) -> bool:
        return self.finished

    def run(self) -> None:
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        except OSError as exc:
            self.error = exc
        with _waiting:
            self.finished = True
            if _waiters.get(self.path) is self:
                del _waiters[self.path]
            if self.error is not None or self.claimers == 0:
                os.close(self.fd)  # nobody wants it any more: let the lock go
            _waiting.notify_all()


_waiting = threading.Condition()
_waiters: dict[str, _Waiter] = {}  # lock file path -> the thread blocked on it, if any


def _forget_waiters_in_child() -> None:
    """A forked child has none of its parent's threads; it must not keep their descriptors either
    (a copy would keep the lock held after the parent's waiter let it go)."""
    global _waiting
    for waiter in _waiters.values():
        with suppress(OSError):
            os.close(waiter.fd)
    _waiters.clear()
    _waiting = threading.Condition()


os.register_at_fork(after_in_child=_forget_waiters_in_child)


def _wait_in_kernel(path: str, timeout_s: float, opener: Callable[[str], int]) -> int:
    """A new descriptor of ``path`` holding its flock, from this process's waiting thread for it.

    Raises LockTimeout after ``timeout_s``; the thread stays (one per path) and lets the lock go when
    it gets it, unless a later caller takes it first.
    """
    deadline = time.monotonic() + timeout_s
    with _waiting:
        while True:
            waiter = _waiters.get(path)
            if waiter is None:
                waiter = _waiters[path] = _Waiter(path, opener(path))
                threading.Thread(target=waiter.run, name="relay-lock-wait", daemon=True).start()
            waiter.claimers += 1
            try:
                done = _waiting.wait_for(waiter.is_finished, max(0.0, deadline - time.monotonic()))
            finally:
                waiter.claimers -= 1
            if not done:
                raise LockTimeout(f"{path} stayed locked for more than {timeout_s:g} s")
            if waiter.error is not None:
                raise waiter.error
            if not waiter.taken:
                waiter.taken = True
                return waiter.fd
            # Another thread of this process took that one: wait for the lock again.


class LockFile:
    """An exclusive ``flock`` on whatever file is at ``path`` when the lock is granted.

    A lock on a file that was removed or replaced meanwhile keeps nobody out (another process opens
    the new file at the path and locks that), so after each grant the descriptor is compared with the
    path (``lstat``, links never followed); on a mismatch it is closed and the new file is locked, all
    within the same time bound. The descriptor stays open between uses (``release`` only unlocks).
    """

    def __init__(self, path: str, opener: Callable[[str], int] | None = None) -> None:
        self.path = path
        self._opener = opener or open_lock_file
        self.fd: int | None = None
        self._identity = (0, 0)

    def acquire(self, timeout_s: float) -> int:
        """Lock the file at ``path`` within ``timeout_s`` and return the descriptor holding the lock.

        Raises:
            LockTimeout: still locked (by another process or thread) after ``timeout_s``.
            WouldWait: it was busy inside :func:`without_waiting`.
            OSError: the path could not be opened: ELOOP for a symbolic link, EINVAL for a file that
                is not a regular file (``filename`` is the path).
        """
        deadline = time.monotonic() + timeout_s
        while True:
            fd = self._descriptor()
            if not _try_lock(fd):
                if not waiting_allowed():
                    raise WouldWait(self.path)
                if not self._spin(fd, deadline):
                    if time.monotonic() >= deadline:
                        raise LockTimeout(f"{self.path} stayed locked for more than {timeout_s:g} s")
                    self._adopt(_wait_in_kernel(self.path, deadline - time.monotonic(), self._opener))
            if self._still_at_path():
                assert self.fd is not None
                return self.fd
            self.close()  # the lock of a file no longer at the path excludes nobody: take the new one's
            if time.monotonic() >= deadline:
                raise LockTimeout(f"{self.path} kept being replaced for more than {timeout_s:g} s")

    def release(self) -> None:
        """Let the lock go; the descriptor stays open for the next :meth:`acquire`."""
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)

    def close(self) -> None:
        """Close the descriptor (which also lets go of the lock)."""
        if self.fd is not None:
            fd, self.fd = self.fd, None
            os.close(fd)

    def _descriptor(self) -> int:
        if self.fd is None:
            self._adopt(self._opener(self.path))
        assert self.fd is not None
        return self.fd

    def _adopt(self, fd: int) -> None:
        """Make ``fd`` (a new descriptor of the path, locked or not) this lock's descriptor."""
        try:
            st = os.fstat(fd)
        except OSError:
            os.close(fd)
            raise
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            raise OSError(errno.EINVAL, "not a regular file", self.path)
        self.close()
        self.fd, self._identity = fd, (st.st_dev, st.st_ino)

    def _still_at_path(self) -> bool:
        try:
            st = os.lstat(self.path)
        except FileNotFoundError:
            return False
        return stat.S_ISREG(st.st_mode) and (st.st_dev, st.st_ino) == self._identity

    @staticmethod
    def _spin(fd: int, deadline: float) -> bool:
        # A holder keeps the lock for tens of microseconds: yielding the CPU to it a few times usually
        # gets the lock sooner than handing the wait to a thread (which costs a thread start and two
        # wake-ups, milliseconds on a busy machine).
        until = min(time.monotonic() + _SPIN_S, deadline)
        while time.monotonic() < until:
            os.sched_yield()
            if _try_lock(fd):
                return True
        return False


@contextmanager
def held(path: str, timeout_s: float) -> Iterator[None]:
    """Hold an exclusive flock on the lock file ``path`` (opened for the occasion) within ``timeout_s``.

    Raises LockTimeout, WouldWait (inside :func:`without_waiting`) or OSError like :meth:`LockFile.acquire`.
    """
    lock = LockFile(path)
    try:
        lock.acquire(timeout_s)
        yield
    finally:
        lock.close()  # releases the lock
