"""Being told when a file in a folder changes (Linux inotify through ctypes), so waiters sleep until a
post lands instead of waking every few milliseconds to look.

Only the store hands these out (``FileStore.subscribe``). Where inotify cannot be had (macOS,
Windows, a container without it, the per-user limits reached, no descriptor left) it returns None and
waiters fall back to comparing the channel's change token on a short timer; they also keep a slow timer
when notified, because inotify does not see writes made by another machine on a network mount.

**One inotify instance per process.** The kernel allows each user 128 instances in all
(``fs.inotify.max_user_instances``), shared with their editors, dev servers and file watchers. An
instance per concurrent wait, with idle ones pooled, let 16 idle relay processes hold all 128, and every
other program's ``inotify_init1`` then failed. So a process has one instance, :data:`FEED`: the first
waiter opens it, each folder gets one watch on it, one thread reads it and wakes that folder's waiters,
and the same thread closes it once no waiter has used it for ``LINGER_S`` (closing waits ~10 ms for the
kernel to retire the watches: never on a caller's path). The rejected alternative, waiters sharing the
descriptor and each reading it, loses wake-ups: whoever reads first takes the events from the others.

libc is found without ``ctypes.util.find_library``, which starts a subprocess (``ldconfig``, ``gcc``)
and fails when the process is out of descriptors.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import errno
import logging
import os
import select
import struct
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import anyio
import anyio.to_thread

log = logging.getLogger("relay.notify")

_IN_NONBLOCK = 0o4000
_IN_CLOEXEC = 0o2000000
# A write (append), a new file, a file moved in (repair, replace), a file cut or removed.
_IN_MODIFY, _IN_ATTRIB, _IN_MOVED_TO, _IN_CREATE, _IN_DELETE = 0x2, 0x4, 0x80, 0x100, 0x200
_MASK = _IN_MODIFY | _IN_ATTRIB | _IN_MOVED_TO | _IN_CREATE | _IN_DELETE
_EVENT = struct.Struct("iIII")  # struct inotify_event: wd, mask, cookie, len; then len bytes of name
_OVERFLOW_WD = -1  # IN_Q_OVERFLOW comes with wd -1: events were lost, so every folder counts as changed

LINGER_S = 1.0
"""How long the instance stays open after its last waiter left, so back-to-back waits reuse it."""
_IDLE_CHECK_S = 0.25
"""How often the reading thread, with nothing to read, checks whether the instance is idle."""

Wake = Callable[[], None]

_libc: ctypes.CDLL | None = None


def _load_libc() -> ctypes.CDLL | None:
    """libc with inotify, or None: the running program's own symbols, else libc by its soname."""
    global _libc
    if _libc is None and sys.platform.startswith("linux"):
        for name in (None, "libc.so.6"):  # dlopen(NULL) needs no file; a static musl build has no dlopen
            try:
                libc = ctypes.CDLL(name, use_errno=True)
                _ = (libc.inotify_init1, libc.inotify_add_watch)
            except (OSError, AttributeError):
                continue
            _libc = libc
            break
    return _libc


def _new_instance(libc: ctypes.CDLL) -> int | None:
    """A fresh inotify descriptor, or None; never the process's last free descriptor.

    A waiter woken by a notifier that took the last descriptor could not open the channel it was woken
    for; without the notifier it still can, by polling.
    """
    fd = int(libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC))
    if fd < 0:
        log.info("inotify unavailable (%s); waiting by polling", os.strerror(ctypes.get_errno()))
        return None
    try:
        os.close(os.dup(fd))
    except OSError as exc:
        os.close(fd)
        log.info("no descriptor to spare for inotify (%s); waiting by polling", exc.strerror)
        return None
    return fd


def _changed_watches(fd: int) -> set[int]:
    """Read every pending event; the watches they belong to (``_OVERFLOW_WD`` if events were lost)."""
    data = b""
    try:
        while chunk := os.read(fd, 65536):
            data += chunk
    except BlockingIOError:
        pass
    watches, offset = set(), 0
    while offset + _EVENT.size <= len(data):
        wd, _mask, _cookie, length = _EVENT.unpack_from(data, offset)
        watches.add(wd)
        offset += _EVENT.size + length
    return watches


def _waker(event: anyio.Event) -> Wake | None:
    """A function any thread may call to set ``event`` without waiting for its event loop (asyncio)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:  # another anyio backend: the caller waits on a worker thread instead
        return None

    def wake() -> None:
        loop.call_soon_threadsafe(event.set)

    return wake


class ChangeFeed:
    """The process's one inotify instance, its watches, and the thread that reads it.

    Each watch has a count of the changes seen on it; a :class:`Notifier` remembers the count it last
    saw, so a change that lands between a waiter's look and its sleep is never missed.
    """

    def __init__(self) -> None:
        self._guard = threading.Condition()
        self._fd = -1
        self._users = 0
        self._idle_since = 0.0
        self._counts: dict[int, int] = {}
        self._wakers: dict[int, set[Wake]] = {}
        os.register_at_fork(after_in_child=self._forget)

    def _forget(self) -> None:
        """In a forked child: the parent's instance and reading thread are not this process's."""
        self._guard = threading.Condition()
        inherited, self._fd = self._fd, -1
        self._users, self._counts, self._wakers = 0, {}, {}
        if inherited >= 0:
            os.close(inherited)

    def subscribe(self, folder: Path) -> Notifier | None:
        """A notifier for changes to files in ``folder``, or None where inotify cannot be used."""
        libc = _load_libc()
        if libc is None:
            return None
        with self._guard:
            if self._fd < 0 and not self._open(libc):
                return None
            wd = int(libc.inotify_add_watch(self._fd, os.fsencode(folder), _MASK))
            if wd < 0:
                err = ctypes.get_errno()
                if err != errno.ENOENT:
                    log.info("cannot watch %s (%s); waiting by polling", folder, os.strerror(err))
                return None
            self._users += 1
            return Notifier(self, wd, self._counts.get(wd, 0))

    def _open(self, libc: ctypes.CDLL) -> bool:
        fd = _new_instance(libc)
        if fd is None:
            return False
        self._fd, self._counts, self._idle_since = fd, {}, time.monotonic()
        threading.Thread(target=self._read_loop, args=(fd,), name="relay-inotify", daemon=True).start()
        return True

    def _read_loop(self, fd: int) -> None:
        """Wake the waiters of every folder that changed; close the instance once it is idle."""
        poller = select.poll()  # not select.select: a busy process may hold descriptors above 1024
        poller.register(fd, select.POLLIN)
        while True:
            ready = poller.poll(_IDLE_CHECK_S * 1000)
            changed = _changed_watches(fd) if ready else set()
            with self._guard:
                if _OVERFLOW_WD in changed:
                    changed = set(self._counts) | set(self._wakers)
                for wd in changed:
                    self._counts[wd] = self._counts.get(wd, 0) + 1
                wake = [waker for wd in changed for waker in self._wakers.get(wd, ())]
                self._guard.notify_all()
                if self._users == 0 and time.monotonic() - self._idle_since >= LINGER_S:
                    self._fd = -1
                    break
            for waker in wake:
                with contextlib.suppress(RuntimeError):  # that waiter's event loop has closed
                    waker()
        os.close(fd)

    def _take(self, notifier: Notifier) -> bool:
        """Whether the notifier's folder changed since it last looked; it has now looked. (Guard held.)"""
        count = self._counts.get(notifier.wd, 0)
        changed, notifier.seen = count != notifier.seen, count
        return changed

    def wait(self, notifier: Notifier, timeout_s: float) -> bool:
        with self._guard:
            self._guard.wait_for(lambda: self._counts.get(notifier.wd, 0) != notifier.seen, timeout_s)
            return self._take(notifier)

    async def wait_async(self, notifier: Notifier, timeout_s: float) -> bool:
        event = anyio.Event()
        waker = _waker(event)
        if waker is None:
            return await anyio.to_thread.run_sync(self.wait, notifier, timeout_s, abandon_on_cancel=True)
        with self._guard:
            if self._take(notifier):
                return True
            self._wakers.setdefault(notifier.wd, set()).add(waker)
        try:
            with anyio.move_on_after(timeout_s):
                await event.wait()
        finally:
            with self._guard:
                waiting = self._wakers[notifier.wd]
                waiting.discard(waker)
                if not waiting:
                    del self._wakers[notifier.wd]
                changed = self._take(notifier)
        return changed

    def release(self) -> None:
        with self._guard:
            self._users -= 1
            if self._users == 0:
                self._idle_since = time.monotonic()


FEED = ChangeFeed()
"""The process's one feed: a module-level object because the limit it saves is per process (per user)."""


class Notifier:
    """One waiter's subscription to changes in one folder; close it when the wait ends."""

    def __init__(self, feed: ChangeFeed, wd: int, seen: int) -> None:
        self.feed: ChangeFeed | None = feed
        self.wd = wd
        self.seen = seen

    def wait(self, timeout_s: float) -> bool:
        """Block until the folder changes after the last wait (True) or ``timeout_s`` passes (False)."""
        return self.feed.wait(self, timeout_s) if self.feed else False

    async def wait_async(self, timeout_s: float) -> bool:
        """Like :meth:`wait`, for an event loop: cancellable, and no thread is held while waiting."""
        if self.feed is None:
            await anyio.sleep(timeout_s)
            return False
        return await self.feed.wait_async(self, timeout_s)

    def close(self) -> None:
        if self.feed is not None:
            feed, self.feed = self.feed, None
            feed.release()

    def __enter__(self) -> Notifier:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_notifier(folder: Path) -> Notifier | None:
    """A notifier for changes to files in ``folder`` on this process's feed, or None (poll instead)."""
    return FEED.subscribe(folder)
