"""What every store backend provides: messages, read positions and being told of changes.

The front ends (``shared.relay``, ``shared.waiting``, the MCP tools, the viewer, the CLI) only use
these interfaces; :func:`shared.storage.open_store` picks the backend from the configuration. The
semantics every backend must keep (ids, names, sizes, read positions, waits) are written in the
contract and held by one test suite run against each backend (``tests/test_store_contract.py``).
"""

from __future__ import annotations

from collections.abc import Collection, Hashable
from typing import Protocol

from shared.models import ChannelStats, Message


class Subscription(Protocol):
    """A waiter's subscription to changes; ``wait`` returns once a subscribed channel may have changed.

    A waiter subscribes *before* its final check of the channel, then waits, so a post between the
    check and the wait is never missed (a change since the subscription, or since the last ``wait``,
    makes the next ``wait`` return at once). A wake-up only means "look again": waiters always re-check,
    and re-check on a slow timer anyway, because no backend can promise that a notification survives a
    lost connection or a network mount.
    """

    def wait(self, timeout_s: float) -> bool:
        """Block until something changed (True) or ``timeout_s`` passed (False)."""
        ...

    async def wait_async(self, timeout_s: float) -> bool:
        """Like :meth:`wait`, cancellable, holding no thread while it waits."""
        ...

    def close(self) -> None: ...


class MessageStore(Protocol):
    """Channels of messages with per-channel ids 1, 2, 3... (no gap, no reuse), and read positions.

    ``blocking`` says whether a call may wait on something other than a short lock (a network round
    trip): the MCP server then runs every call on a worker thread instead of trying it on its event
    loop first.
    """

    blocking: bool
    description: str  # where the messages live, safe to print: a folder or a URL without its password

    def append(
        self, target: str, sender: str, text: str, *, source: str | None = None, reply_to: int | None = None
    ) -> Message: ...

    def import_records(self, target: str, records: list[Message]) -> int:
        """Store records under their own ids (``relay store copy``), skipping ids already held; returns
        how many were new. Later appends continue after the largest id."""
        ...

    def read_since(self, target: str, since_id: int, limit: int) -> tuple[list[Message], bool]: ...

    def read_last(self, target: str, limit: int) -> list[Message]: ...

    def read_before(self, target: str, before_id: int, limit: int) -> tuple[list[Message], bool]: ...

    def stats(self, target: str) -> ChannelStats: ...

    def list_channels(self) -> list[ChannelStats]: ...

    def search(self, query: str, target: str | None, limit: int, deadline_s: float) -> list[Message]:
        """Messages holding every word of ``query`` (rules: ``shared/search.py``) in ``target`` or every
        channel, newest first, at most ``limit``; a scan stops after ``deadline_s`` seconds and returns
        what it found (a :class:`shared.search.Found` with ``complete`` False)."""
        ...

    def cheap_read(self, target: str, limit: int) -> bool:
        """Whether reading ``limit`` messages is quick enough to do on an event loop (never, for a
        backend whose calls may block)."""
        ...

    def ensure_ready(self) -> None:
        """Prove the store can be written (folders made, database schema present), or raise StoreError."""
        ...

    def version(self, target: str) -> Hashable:
        """A cheap value that differs whenever the channel changed (an append, a repair, a replacement)."""
        ...

    def subscribe(self, targets: Collection[str] | None = None) -> Subscription | None:
        """Be told of changes to ``targets`` (None: every channel); None when only polling can tell."""
        ...

    def get_position(self, identity: str, target: str) -> int: ...

    def advance_position(self, identity: str, target: str, latest_id: int) -> int:
        """Move ``identity``'s read position in ``target`` forward to ``latest_id`` (never back)."""
        ...

    def reset_position(self, identity: str, target: str, position: int) -> int: ...

    def positions(self) -> dict[str, dict[str, int]]:
        """Every saved read position: identity -> channel -> id (for ``relay store copy``)."""
        ...

    def close(self) -> None: ...
