"""One LISTEN connection per process, fanned out to every waiter of that process.

Each append sends ``NOTIFY relay_posts, '<channel>'`` in its own transaction, so a notification is
delivered exactly when the message is committed. A background thread holds a dedicated connection that
LISTENs and, for each notification, makes the pipe of every subscription to that channel readable; the
waiters (``shared.waiting``) sleep on those pipes exactly as they sleep on inotify for the file store.

A notification sent while the connection was down is lost, so after every (re)connect all
subscriptions are woken to re-check, and waiters re-check on a slow timer anyway. The thread stops when
the last subscription has been closed for ``linger_s``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import threading
import time
from collections.abc import Callable, Collection
from typing import Any

import anyio

from shared.storage.postgres.schema import NOTIFY_CHANNEL

log = logging.getLogger("relay.postgres")

RECONNECT_S = (0.1, 0.25, 0.5, 1.0, 2.0)
"""Pauses between attempts to reconnect the listener; the last one repeats."""


class PipeSubscription:
    """A non-blocking pipe that the listener writes a byte to when a subscribed channel changes."""

    def __init__(self, hub: ListenHub, targets: Collection[str] | None) -> None:
        self.targets = frozenset(targets) if targets is not None else None
        self._read, self._write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._hub = hub

    def fileno(self) -> int:
        return self._read

    def wait(self, timeout_s: float) -> bool:
        """Block until a subscribed channel got a post (True) or ``timeout_s`` passed (False)."""
        ready = bool(select.select([self._read], [], [], max(0.0, timeout_s))[0])
        if ready:
            self.drain()
        return ready

    async def wait_async(self, timeout_s: float) -> bool:
        """Like :meth:`wait`, on an event loop: cancellable, and no thread is held while waiting."""
        with anyio.move_on_after(max(0.0, timeout_s)):
            await anyio.wait_readable(self._read)
            self.drain()
            return True
        return False

    def wants(self, channel: str | None) -> bool:
        return channel is None or self.targets is None or channel in self.targets

    def wake(self) -> None:
        with contextlib.suppress(OSError):  # already readable (the pipe is full), or closed meanwhile
            os.write(self._write, b"!")

    def drain(self) -> None:
        try:
            while os.read(self._read, 4096):
                pass
        except (BlockingIOError, OSError):
            pass

    def close(self) -> None:
        hub, self._hub = self._hub, None  # type: ignore[assignment]
        if hub is None:
            return
        hub.remove(self)
        os.close(self._read)
        os.close(self._write)


class ListenHub:
    """The process's LISTEN thread and its subscriptions.

    Args:
        connect: opens a new autocommit connection (raises on failure).
        linger_s: how long the connection is kept after the last subscription closes.
    """

    def __init__(self, connect: Callable[[], Any], linger_s: float = 30.0) -> None:
        self._connect = connect
        self._linger_s = linger_s
        self._subs: set[PipeSubscription] = set()
        self._guard = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.connected = threading.Event()

    def subscribe(self, targets: Collection[str] | None) -> PipeSubscription:
        sub = PipeSubscription(self, targets)
        with self._guard:
            self._subs.add(sub)
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(target=self._run, name="relay-pg-listen", daemon=True)
                self._thread.start()
        return sub

    def remove(self, sub: PipeSubscription) -> None:
        with self._guard:
            self._subs.discard(sub)

    def _wake(self, channel: str | None) -> None:
        with self._guard:
            subs = [sub for sub in self._subs if sub.wants(channel)]
        for sub in subs:
            sub.wake()

    def _idle_too_long(self, idle_since: float | None) -> bool:
        return idle_since is not None and time.monotonic() - idle_since > self._linger_s

    def _run(self) -> None:
        attempt = 0
        idle_since: float | None = None
        while not self._stop.is_set():
            try:
                conn = self._connect()
            except Exception as exc:  # noqa: BLE001 - any failure to connect is retried, never fatal
                pause = RECONNECT_S[min(attempt, len(RECONNECT_S) - 1)]
                log.info("LISTEN connection failed (%s); retrying in %.2f s", type(exc).__name__, pause)
                attempt += 1
                if self._stop.wait(pause):
                    return
                continue
            attempt = 0
            try:
                conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                self.connected.set()
                self._wake(None)  # anything posted while we were not listening: look again
                while not self._stop.is_set():
                    for note in conn.notifies(timeout=1.0, stop_after=256):
                        self._wake(note.payload or None)
                    with self._guard:
                        empty = not self._subs
                    idle_since = (idle_since or time.monotonic()) if empty else None
                    if self._idle_too_long(idle_since):
                        with self._guard:
                            if not self._subs:
                                self._thread = None
                                return
            except Exception as exc:  # noqa: BLE001 - a lost connection is reconnected
                log.info("LISTEN connection lost (%s); reconnecting", type(exc).__name__)
            finally:
                self.connected.clear()
                with contextlib.suppress(Exception):  # closing a broken connection may fail too
                    conn.close()

    def close(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2)
