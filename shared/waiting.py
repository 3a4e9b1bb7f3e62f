"""Waiting for new messages without busy-reading the store: ``wait_for_messages`` for the MCP tool, the
hooks and ``relay watch``.

How a waiter wakes up: it compares the channel's version (``MessageStore.version``: for the files the
inode, size and mtime from one ``stat`` call; for PostgreSQL the channel's last id) with the last one it
saw, and reads the channel only when it moved. Between looks it sleeps on a subscription to the store's
changes (``MessageStore.subscribe``: inotify on the channels folder, or the process's LISTEN connection
to PostgreSQL), so a post from any process wakes it within milliseconds and an idle waiter costs
nothing; it still looks every ``NOTIFIED_POLL_S``, because inotify does not see writes made by another
machine on a network mount and a notification can be lost while a database connection is re-made.
Where there is no subscription (macOS, Windows, inotify unavailable) it looks every ``POLL_S`` instead.
The reasoning is in docs/architecture.md.

Which messages count, and how the saved read position moves (documented in docs/automation.md):

* A message *wakes* the waiter if it is newer than the start position, is not the caller's own post
  (its sender differs from the caller's identity, case-insensitively), and, with ``from_sender``, was
  posted by that sender. ``from_sender`` naming the caller itself is refused (``message_filter``).
* Once woken, the result is what ``fetch_messages`` would return at that moment minus the caller's own
  posts: every other message after the start, oldest first, up to ``limit``. Messages from third
  parties are returned rather than skipped, so a read position can never jump over a message nobody
  has shown the caller.
* ``latest_id`` is the last message returned, extended over the caller's own posts that directly follow
  it; the saved position (used when ``since_id`` is omitted) moves there, only when messages are
  returned. At the timeout nothing is returned and nothing moves.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.to_thread

from shared import presence
from shared.errors import InvalidInput
from shared.logs import log_tool_call
from shared.models import (
    FETCH_LIMIT_MAX,
    Message,
    clamp_limit,
    normalize_sender,
    normalize_target,
    validate_id,
)
from shared.relay import Relay, require_identity
from shared.storage import MessageStore as Store
from shared.storage import offload

log = logging.getLogger("relay.waiting")

POLL_S = 0.02
"""Without change notifications, how often a waiter compares the channel's change token (one stat)."""
NOTIFIED_POLL_S = 0.5
"""With notifications, the token is still compared this often: inotify does not see writes made by
another machine on a network mount."""
DEFAULT_TIMEOUT_S = 45.0
"""Below Codex's default tool timeout (tool_timeout_sec = 60) with room for the round trip."""
MAX_TIMEOUT_S = 600.0
"""Longer waits are clamped: clients time tool calls out, and a ten-minute wait is re-issued cheaply."""
PROGRESS_EVERY_S = 5.0
"""Progress notifications while waiting, so clients that reset their timeout on progress keep waiting."""
_PAGE = FETCH_LIMIT_MAX

Accept = Callable[[Message], bool]
Progress = Callable[[float, float, str], Awaitable[None]]


def clamp_timeout(timeout_s: object) -> float:
    """A wait time in seconds clamped into 0..MAX_TIMEOUT_S; None means DEFAULT_TIMEOUT_S."""
    if timeout_s is None:
        return DEFAULT_TIMEOUT_S
    if isinstance(timeout_s, bool) or not isinstance(timeout_s, (int, float)) or timeout_s != timeout_s:
        raise InvalidInput(f"timeout_s must be a number of seconds from 0 to {MAX_TIMEOUT_S:g}")
    return float(min(max(timeout_s, 0.0), MAX_TIMEOUT_S))


def _sender_key(record: Message) -> str:
    sender = record.get("sender")
    return sender.strip().casefold() if isinstance(sender, str) else ""


def message_filter(identity: str | None, from_sender: str | None) -> Accept:
    """The wake-up rule: not ``identity``'s own post and, with ``from_sender``, posted by that sender.

    Raises:
        InvalidInput: ``from_sender`` is ``identity`` itself. Its posts would wake the waiter but never
            be returned (the result rule leaves out the caller's own), so the call would come back at
            once, empty, every time: an agent waiting on itself would spin.
    """
    own = normalize_sender(identity).casefold() if identity else None
    wanted = normalize_sender(from_sender).casefold() if from_sender else None
    if wanted is not None and wanted == own:
        raise InvalidInput(
            f"from_sender {from_sender!r} is your own identity: your own posts never wake a wait and are "
            "never returned. Leave from_sender empty to wait for anyone else, or name the sender whose "
            "answer you expect"
        )

    def accept(record: Message) -> bool:
        key = _sender_key(record)
        if wanted is not None:
            return key == wanted
        return key != own

    return accept


@dataclass
class ChannelWatch:
    """Finds the first message after a position that passes a filter, re-reading only changed channels.

    Args:
        store: the store to read.
        target: the channel.
        after: only messages with a larger id count.
        accept: which messages count.
    """

    store: Store
    target: str
    after: int
    accept: Accept
    checked: int = field(init=False)
    _token: Hashable | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.target = normalize_target(self.target)
        self.checked = validate_id(self.after, "since_id")

    def changed(self) -> bool:
        """Whether the channel file changed since the last look (always true the first time)."""
        token = self.store.version(self.target)
        if token == self._token:
            return False
        # Remember the token before reading: a post that lands during the read changes it again.
        self._token = token
        return True

    def find(self) -> Message | None:
        """The first accepted message after the messages already checked, or None."""
        while True:
            page, more = self.store.read_since(self.target, self.checked, _PAGE)
            for record in page:
                if self.accept(record):
                    return record
                self.checked = record["id"]
            if not more:
                return None

    def poll(self) -> Message | None:
        """``find`` if the channel changed, else None without reading anything."""
        return self.find() if self.changed() else None


def wait_sync(watch: ChannelWatch, timeout_s: float | None, poll_s: float = POLL_S) -> Message | None:
    """Block until ``watch`` finds a message (returned) or ``timeout_s`` passes (None; None = forever)."""
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    notifier = watch.store.subscribe([watch.target])
    interval = NOTIFIED_POLL_S if notifier is not None else poll_s
    try:
        while True:
            found = watch.poll()
            if found is not None:
                return found
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                return None
            pause = interval if deadline is None else min(interval, deadline - now)
            if notifier is None:
                time.sleep(pause)
            else:
                notifier.wait(pause)
    finally:
        if notifier is not None:
            notifier.close()


async def wait_async(
    watch: ChannelWatch,
    timeout_s: float,
    on_progress: Progress | None = None,
    poll_s: float = POLL_S,
    progress_every_s: float = PROGRESS_EVERY_S,
) -> Message | None:
    """Like :func:`wait_sync`, cancellable at every pause, with a progress callback while waiting.

    Reads run on a worker thread so a long backlog never stalls the event loop; a cancelled caller
    (a closed client, an MCP cancellation) leaves at the next ``await`` with nothing changed.
    """
    start = time.monotonic()
    deadline = start + timeout_s
    next_progress = start
    notifier = watch.store.subscribe([watch.target])
    interval = NOTIFIED_POLL_S if notifier is not None else poll_s
    try:
        while True:
            if watch.store.blocking:  # even the version is a round trip: the whole look on a thread
                found = await anyio.to_thread.run_sync(watch.poll)
            else:
                found = await anyio.to_thread.run_sync(watch.find) if watch.changed() else None
            if found is not None:
                return found
            now = time.monotonic()
            if now >= deadline:
                return None
            if on_progress is not None and now >= next_progress:
                waited = round(now - start, 3)
                note = f"waiting for messages in {watch.target} ({waited:.0f} of {timeout_s:g} s)"
                await on_progress(waited, timeout_s, note)
                next_progress += progress_every_s
            pause = min(interval, deadline - now)
            if on_progress is not None:
                pause = min(pause, max(0.0, next_progress - now))
            if notifier is None:
                await anyio.sleep(pause)
            else:
                await notifier.wait_async(pause)
    finally:
        if notifier is not None:
            notifier.close()


def collect(store: Store, target: str, start: int, identity: str | None, limit: int) -> dict[str, Any]:
    """What a woken waiter returns: messages after ``start`` except ``identity``'s own, up to ``limit``.

    Returns:
        ``{"messages", "latest_id", "has_more", "since_id"}`` as fetch_messages; ``latest_id`` also
        covers the caller's own posts that follow the last message returned.
    """
    own = message_filter(identity, None) if identity else (lambda record: True)
    found: list[Message] = []
    covered = start
    position = start
    while True:
        page, more = store.read_since(target, position, _PAGE)
        for record in page:
            if not own(record):
                covered = record["id"]  # the caller's own post: nothing to return, safe to pass over
                continue
            if len(found) >= limit:
                return {"messages": found, "latest_id": covered, "has_more": True, "since_id": start}
            found.append(record)
            covered = record["id"]
        if not more:
            return {"messages": found, "latest_id": covered, "has_more": False, "since_id": start}
        position = page[-1]["id"]


@dataclass
class WaitRequest:
    """One wait_for_messages call, validated: where it starts and what it waits for."""

    relay: Relay
    target: str
    identity: str | None
    since_id: int | None
    timeout_s: float
    from_sender: str | None
    limit: int
    start: int = field(init=False)
    accept: Accept = field(init=False)

    def __post_init__(self) -> None:
        self.target = normalize_target(self.target)
        self.identity = normalize_sender(self.identity) if self.identity else None
        self.from_sender = normalize_sender(self.from_sender) if self.from_sender else None
        self.accept = message_filter(self.identity, self.from_sender)
        if self.since_id is None:
            self.start = self.relay.read_position(require_identity(self.identity, "wait"), self.target)
        else:
            self.start = validate_id(self.since_id, "since_id")

    def watch(self) -> ChannelWatch:
        return ChannelWatch(self.relay.store, self.target, self.start, self.accept)

    def finish(self, found: Message | None, waited_s: float) -> dict[str, Any]:
        """Build the result and, when it holds messages and no since_id was given, save the position."""
        result: dict[str, Any]
        if found is None:
            result = {"messages": [], "latest_id": self.start, "has_more": False, "since_id": self.start}
        else:
            result = collect(self.relay.store, self.target, self.start, self.identity, self.limit)
            if self.since_id is None and self.identity and result["messages"]:
                self.relay.save_position(self.identity, self.target, result["latest_id"])
        self.log(result, waited_s, "woken" if found is not None else "timeout")
        return result

    def log(self, result: dict[str, Any] | None, waited_s: float, outcome: str) -> None:
        log_tool_call(
            "wait_for_messages",
            target=self.target,
            since_id=self.start,
            identity=self.identity if self.since_id is None else None,
            from_sender=self.from_sender,
            timeout_s=self.timeout_s,
            waited_s=round(waited_s, 3),
            returned=len(result["messages"]) if result else 0,
            latest_id=result["latest_id"] if result else self.start,
            outcome=outcome,
        )


def _request(relay: Relay, target: str, **options: Any) -> WaitRequest:
    return WaitRequest(
        relay,
        target,
        options.get("identity"),
        options.get("since_id"),
        clamp_timeout(options.get("timeout_s")),
        options.get("from_sender"),
        clamp_limit(options.get("limit"), FETCH_LIMIT_MAX),
    )


async def wait_for_messages(
    relay: Relay,
    target: str,
    *,
    identity: str | None,
    since_id: int | None = None,
    timeout_s: float | None = None,
    from_sender: str | None = None,
    limit: int | None = None,
    on_progress: Progress | None = None,
) -> dict[str, Any]:
    """Wait until a matching message exists, then return the unseen messages (see the module docs).

    Args:
        relay: the channels.
        target: the channel to wait on.
        identity: the caller; its own posts never wake it and are not returned. Needed without since_id.
        since_id: wait for messages after this id; None uses (and then advances) the saved position.
        timeout_s: how long to wait, clamped to 0..MAX_TIMEOUT_S; 0 checks once.
        from_sender: wake only for a message from this sender.
        limit: most messages to return (1..200, default 50).
        on_progress: awaited every PROGRESS_EVERY_S while waiting, with (waited, total, message).

    Returns:
        The fetch_messages result shape; empty ``messages`` means the timeout passed.
    """
    request = await offload.run(lambda: _request(
        relay, target, identity=identity, since_id=since_id, timeout_s=timeout_s,
        from_sender=from_sender, limit=limit,
    ), in_place=not relay.store.blocking)  # fmt: skip
    started = time.monotonic()
    try:
        with presence.waiting(relay.config.data_dir, request.identity, request.target):
            found = await wait_async(request.watch(), request.timeout_s, on_progress)
    except anyio.get_cancelled_exc_class():
        # Logged so a cancelled wait can be told from one still running; nothing was read or saved.
        with anyio.CancelScope(shield=True):
            request.log(None, time.monotonic() - started, "cancelled")
        raise
    # The final read may pass over many of the caller's own messages: on a thread.
    return await offload.run(lambda: request.finish(found, time.monotonic() - started), in_place=False)


def wait_for_messages_sync(
    relay: Relay,
    target: str,
    *,
    identity: str | None,
    since_id: int | None = None,
    timeout_s: float | None = None,
    from_sender: str | None = None,
    limit: int | None = None,
) -> dict[str, Any]:
    """The blocking twin of :func:`wait_for_messages`, for the CLI and hooks."""
    request = _request(
        relay, target, identity=identity, since_id=since_id, timeout_s=timeout_s,
        from_sender=from_sender, limit=limit,
    )  # fmt: skip
    started = time.monotonic()
    with presence.waiting(relay.config.data_dir, request.identity, request.target):
        found = wait_sync(request.watch(), request.timeout_s)
    return request.finish(found, time.monotonic() - started)
