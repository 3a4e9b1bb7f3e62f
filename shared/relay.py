"""The relay's operations, shared by the MCP tools, the HTTP API and the CLI.

Each front end is a thin adapter over :class:`Relay`: validation, limits, read positions and logging
happen here once.
"""

from __future__ import annotations

import logging
from typing import Any

from shared.config import Config
from shared.errors import InvalidInput, StoreError
from shared.logs import archive_message, log_tool_call
from shared.models import (
    FETCH_LIMIT_MAX,
    SOURCES,
    Message,
    clamp_limit,
    normalize_sender,
    normalize_target,
    validate_id,
)
from shared.presence import channel_presence
from shared.search import SEARCH_BUDGET_S, SearchQuery, search_limit
from shared.storage import MessageStore, open_store
from shared.threads import thread_of

log = logging.getLogger("relay.positions")


def require_identity(identity: str | None, action: str) -> str:
    """The caller's identity, needed to read from its saved position; InvalidInput when there is none."""
    if identity is None:
        raise InvalidInput(
            f"to {action} without since_id the relay needs to know who you are, to use your saved read "
            "position: give since_id (0 for everything), or set a sender (--sender or CLAUDE_CODEX_SENDER)"
        )
    return identity


class Relay:
    """Channels with read positions, on top of a store.

    Args:
        config: the resolved configuration (seed channels, limits, data dir).
        store: the message store; the configured one (``store``, else the files in ``data_dir``) when
            omitted.
    """

    def __init__(self, config: Config, store: MessageStore | None = None) -> None:
        self.config = config
        self.store: MessageStore = store or open_store(
            config.store or config.data_dir,
            max_message_bytes=config.max_message_bytes,
            lock_timeout_s=config.lock_timeout_s,
            fsync=config.fsync,
        )

    @property
    def post_in_place(self) -> bool:
        """Whether a post may run on an event loop (a local append without a disk flush)."""
        return not self.store.blocking and not self.config.fsync

    def post(
        self, target: str, text: str, sender: str, *, source: str, reply_to: int | None = None
    ) -> Message:
        """Append a message and log it; returns the stored record."""
        if source not in SOURCES:
            raise InvalidInput(f"source must be one of {', '.join(SOURCES)}, not {source!r}")
        record = self.store.append(target, sender, text, source=source, reply_to=reply_to)
        log_tool_call(
            "post_message",
            id=record["id"],
            target=record["target"],
            sender=record["sender"],
            text_len=len(text),
            source=source,
        )
        archive_message(record)
        return record

    def fetch(
        self,
        target: str,
        *,
        since_id: int | None = None,
        limit: int | None = None,
        identity: str | None = None,
        limit_max: int = FETCH_LIMIT_MAX,
    ) -> dict[str, Any]:
        """Messages after ``since_id`` (or after ``identity``'s saved position, which then advances).

        Returns:
            ``{"messages", "latest_id", "has_more", "since_id"}``; ``latest_id`` is the id of the last
            message returned, or the starting point when none is.
        """
        target = normalize_target(target)
        count = clamp_limit(limit, limit_max)
        reader = None if since_id is not None else normalize_sender(require_identity(identity, "fetch"))
        start = self.read_position(reader, target) if reader else validate_id(since_id, "since_id")
        messages, has_more = self.store.read_since(target, start, count)
        latest = messages[-1]["id"] if messages else start
        if reader and messages:
            self.save_position(reader, target, latest)
        log_tool_call(
            "fetch_messages",
            target=target,
            since_id=start,
            limit=count,
            returned=len(messages),
            latest_id=latest,
            identity=reader,
        )
        return {"messages": messages, "latest_id": latest, "has_more": has_more, "since_id": start}

    def small_fetch(self, target: str, limit: int | None) -> bool:
        """Whether fetching ``limit`` messages of ``target`` is quick enough to do on an event loop."""
        return not self.store.blocking and self.store.cheap_read(target, clamp_limit(limit, FETCH_LIMIT_MAX))

    def read_position(self, identity: str, target: str) -> int:
        """``identity``'s saved position in ``target``; reset to 0 if the channel was emptied or replaced."""
        start = self.store.get_position(identity, target)
        if start > self.store.stats(target).latest_id:
            try:
                self.store.reset_position(identity, target, 0)
            except StoreError as exc:
                log.warning("%s; reading from #0 anyway (the reset is retried on the next read)", exc)
            start = 0
        return start

    def save_position(self, identity: str, target: str, latest_id: int) -> bool:
        """Move ``identity``'s position in ``target`` to ``latest_id``; False (and a warning) if it failed.

        A read must not fail because its position cannot be saved (a full disk): the messages are in
        hand, so they are returned and the position stays where it was. The next read from the saved
        position returns them again, which is safe; losing them would not be.
        """
        try:
            self.store.advance_position(identity, target, latest_id)
        except StoreError as exc:
            log.warning(
                "%s; the messages up to #%d were returned anyway, and the next read of %s by %s without "
                "since_id returns them again",
                exc,
                latest_id,
                target,
                identity,
            )
            return False
        return True

    def recent(self, target: str, limit: int | None, limit_max: int) -> list[Message]:
        """The last ``limit`` messages of a channel, oldest first."""
        return self.store.read_last(normalize_target(target), clamp_limit(limit, limit_max))

    def latest(self, target: str, limit: int | None, limit_max: int) -> tuple[list[Message], bool]:
        """The last ``limit`` messages, oldest first, and whether older ones exist before them."""
        messages = self.recent(target, limit, limit_max)
        if not messages:
            return [], False
        older, _ = self.store.read_before(normalize_target(target), messages[0]["id"], 1)
        return messages, bool(older)

    def after(
        self, target: str, since_id: object, limit: object, limit_max: int
    ) -> tuple[list[Message], bool]:
        """Messages with id > ``since_id``, oldest first, and whether more follow; not logged (polling)."""
        count = clamp_limit(limit, limit_max)
        return self.store.read_since(normalize_target(target), validate_id(since_id, "since_id"), count)

    def before(
        self, target: str, before_id: object, limit: object, limit_max: int
    ) -> tuple[list[Message], bool]:
        """The last messages with id < ``before_id``, oldest first, and whether older ones exist."""
        count = clamp_limit(limit, limit_max)
        return self.store.read_before(normalize_target(target), validate_id(before_id, "before_id"), count)

    def channels(self) -> dict[str, Any]:
        """Seed channels plus every channel with messages, sorted, with per-channel details."""
        stats = {s.target: s for s in self.store.list_channels()}
        for seed in self.config.channels:
            if seed not in stats:
                stats[seed] = self.store.stats(seed)
        names = sorted(stats)
        return {"channels": names, "details": [stats[name].as_dict() for name in names]}

    def search(self, query: str, *, target: str | None = None, limit: object = None) -> dict[str, Any]:
        """Messages whose text or sender holds every word of ``query``, newest first (shared/search.py).

        Returns:
            ``{"query", "target", "messages", "complete"}``; ``complete`` is False when the store ran
            out of its time budget before it had looked at every message.
        """
        parsed = SearchQuery.parse(query)
        channel = normalize_target(target) if target else None
        count = search_limit(limit)
        found = self.store.search(parsed.text, channel, count, SEARCH_BUDGET_S)
        complete = bool(getattr(found, "complete", True))
        log_tool_call(
            "search_messages", target=channel, query_len=len(parsed.text), limit=count,
            returned=len(found), complete=complete,
        )  # fmt: skip
        return {"query": parsed.text, "target": channel, "messages": list(found), "complete": complete}

    def presence(self, target: str) -> dict[str, Any]:
        """Who is active in ``target``: last post, read position and waiting now (shared/presence.py)."""
        return channel_presence(self.store, self.config.data_dir, target)

    def thread(self, target: str, message_id: object) -> dict[str, Any]:
        """The thread holding ``message_id``: its root, the chain and every answer (shared/threads.py)."""
        return thread_of(self.store, target, message_id)
