"""Pushing new messages to a connected agent as they arrive (Claude Code channels), without MCP in it.

A :class:`Pusher` belongs to one client connection. It follows every subscribed channel with the
waiting machinery of shared/waiting.py (so a post from any process wakes it within milliseconds and an
idle channel costs nothing) and hands each new message from someone else to a ``deliver`` callback,
which the MCP layer turns into a ``notifications/claude/channel`` notification (relay_stdio/channels.py).

The rules (the contract's "Push" section; docs/claude.md explains them to users):

* Subscribed channels: those named at start (``--channel``, config ``subscribe``) plus every channel the
  session posts to, fetches or waits on. A channel is followed from its newest message at the moment of
  subscribing: what was posted before is the backlog fetch_messages returns, never a burst of pushes.
* Never the agent's own posts (same rule as wait_for_messages, plus whatever the session posted under
  another ``sender``), and never a message the session has already been given by a tool result.
* A pushed message counts as read: the identity's saved read position moves past it, so a later
  fetch_messages without since_id does not return it again. A message the loop guard held back is not
  pushed and keeps the position where it is, so the agent still finds it unread.
* The loop guard (shared/loopguard.py) decides whether a message may wake the agent at all.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

import anyio
import anyio.abc
import anyio.to_thread

from shared.errors import InvalidInput, RelayError
from shared.loopguard import LoopGuard
from shared.models import Message, normalize_target
from shared.relay import Relay
from shared.storage import offload
from shared.trust import message_origins, untrusted_framing
from shared.waiting import ChannelWatch, message_filter, wait_async

log = logging.getLogger("relay.push")

FOLLOW_WAIT_S = 300.0
"""One wait of a channel follower; it simply waits again (a bound keeps every wait finite)."""

Deliver = Callable[[str, dict[str, str]], Awaitable[None]]
"""Hands one message to the client: ``(content, meta)``; meta values are strings."""


def channel_content(record: Message) -> str:
    """A pushed message's text: the framing (sender, channel, untrusted), how to answer, the message."""
    target, number = record["target"], record["id"]
    framing = untrusted_framing(target, message_origins([record]))
    answer = f'To answer, call post_message(target="{target}", reply_to={number}).'
    return f"{framing}\n{answer}\n\n{record['text']}"


def channel_meta(record: Message) -> dict[str, str]:
    """The notification's ``meta``: target, id and sender as strings (Claude Code shows attributes)."""
    meta = {"target": str(record["target"]), "id": str(record["id"]), "sender": str(record["sender"])}
    if isinstance(record.get("reply_to"), int):
        meta["reply_to"] = str(record["reply_to"])
    return meta


@dataclass
class Pusher:
    """Follows the subscribed channels of one connection and delivers what others post.

    Args:
        relay: the channels.
        identity: the agent's identity: its own posts are never pushed, its read position moves.
        guard: the loop guard.
        initial: the channels subscribed from the start.
    """

    relay: Relay
    identity: str
    guard: LoopGuard
    initial: Iterable[str] = ()
    _followed: set[str] = field(default_factory=set, init=False)
    _seen: dict[str, int] = field(default_factory=dict, init=False)
    _posted: set[tuple[str, int]] = field(default_factory=set, init=False)
    _reads: dict[str, int] = field(default_factory=dict, init=False)
    _read_done: dict[str, anyio.Event] = field(default_factory=dict, init=False)
    _held: dict[str, int] = field(default_factory=dict, init=False)
    _tg: anyio.abc.TaskGroup | None = field(default=None, init=False)
    _deliver: Deliver | None = field(default=None, init=False)
    _pending: list[tuple[str, int]] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        for name in self.initial:
            self.subscribe(name)

    @property
    def channels(self) -> list[str]:
        """The subscribed channels, sorted."""
        return sorted(self._followed)

    def subscribe(self, target: str) -> bool:
        """Follow ``target`` from its newest message now; False if it was followed already or is invalid.

        The starting point is taken here, synchronously, not when the follower task first runs: a post
        that lands in between would otherwise be skipped.
        """
        name = _name(target)
        if name is None or name in self._followed:  # a bad name: the tool call reports it itself
            return False
        self._followed.add(name)
        start = self.relay.store.stats(name).latest_id
        if self._tg is None:
            self._pending.append((name, start))
        else:
            self._tg.start_soon(self._follow, name, start)
        return True

    def begin_read(self, target: str) -> None:
        """A tool that returns messages of ``target`` started: pushes for it wait until it has answered.

        A message that arrives during a wait_for_messages call is in the call's result; pushing it too
        would hand it to the model twice.
        """
        name = _name(target)
        if name is not None:
            self._reads[name] = self._reads.get(name, 0) + 1
            self._read_done.setdefault(name, anyio.Event())

    def end_read(self, target: str, latest_id: int | None, posted: int | None = None) -> None:
        """The tool answered: a read with messages up to ``latest_id``, a post with id ``posted`` (None:
        neither, or it failed). Neither is pushed: the session has them, or wrote it (under any sender)."""
        name = _name(target)
        if name is None or name not in self._reads:
            return
        if latest_id is not None:
            self._seen[name] = max(self._seen.get(name, 0), latest_id)
        if posted is not None:
            self._posted.add((name, posted))
        self._reads[name] -= 1
        if self._reads[name] <= 0:
            del self._reads[name]
            self._read_done.pop(name).set()

    async def run(self, deliver: Deliver) -> None:
        """Follow the channels and deliver new messages until cancelled."""
        async with anyio.create_task_group() as tg:
            self._tg, self._deliver = tg, deliver
            for name, start in self._pending:
                tg.start_soon(self._follow, name, start)
            self._pending.clear()
            await anyio.sleep_forever()

    async def _follow(self, target: str, start: int) -> None:
        watch = ChannelWatch(self.relay.store, target, start, message_filter(self.identity, None))
        while True:
            try:
                found = await wait_async(watch, FOLLOW_WAIT_S)
                while found is not None:
                    await self._offer(target, found)
                    watch.checked = found["id"]
                    found = await anyio.to_thread.run_sync(watch.find)
            except RelayError as exc:  # a busy or broken store: say so, keep following
                log.warning("push: following %s: %s", target, exc)
                await anyio.sleep(1.0)

    async def _offer(self, target: str, record: Message) -> None:
        """Deliver one message, unless the session has it already or the loop guard holds it."""
        while target in self._read_done:
            await self._read_done[target].wait()
        if record["id"] <= self._seen.get(target, 0) or (target, record["id"]) in self._posted:
            return
        allowed = await offload.run(
            lambda: self.guard.allows(self.relay.store, target, record),
            in_place=not self.relay.store.blocking,
        )
        if not allowed:
            if target not in self._held:
                log.warning("%s (held #%d)", self.guard.note(target), record["id"])
                self._held[target] = record["id"]
            return
        assert self._deliver is not None
        await self._deliver(channel_content(record), channel_meta(record))
        await offload.run(
            lambda: self._mark_read(target, record["id"]), in_place=not self.relay.store.blocking
        )

    def _mark_read(self, target: str, number: int) -> None:
        """Move the read position past a pushed message, unless a held-back one lies before it unread."""
        held = self._held.get(target)
        if held is not None:
            if self.relay.read_position(self.identity, target) < held:
                return
            del self._held[target]
        self.relay.save_position(self.identity, target, number)


def _name(target: str) -> str | None:
    try:
        return normalize_target(target)
    except InvalidInput:
        return None
