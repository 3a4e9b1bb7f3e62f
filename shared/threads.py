"""Threads: a message, the chain of messages it answers (``reply_to``), and every answer to any of them.

A thread is found from any of its messages: up the ``reply_to`` chain to the message that answers
nothing (the root), then forward through the channel collecting each message whose ``reply_to`` names
one already in the thread. The forward scan reads at most ``THREAD_SCAN`` messages after the root, so a
thread started a year ago costs a bounded read, not the whole history.
"""

from __future__ import annotations

from typing import Any

from shared.errors import MessageNotFound
from shared.models import FETCH_LIMIT_MAX, Message, normalize_target, validate_id
from shared.records import reply_id
from shared.storage import MessageStore as Store

THREAD_SCAN = 10_000
"""Messages read after a thread's root looking for answers."""
MAX_DEPTH = 1_000
"""Longest chain of replies followed upwards."""


def message_by_id(store: Store, target: str, message_id: int) -> Message:
    """One message of a channel, or MessageNotFound naming it."""
    found, _ = store.read_since(target, message_id - 1, 1)
    if not found or found[0]["id"] != message_id:
        raise MessageNotFound(f"channel {target!r} has no message #{message_id}")
    return found[0]


def thread_root(store: Store, target: str, message: Message) -> Message:
    """The first message of ``message``'s reply chain (a reply always names an older message)."""
    for _ in range(MAX_DEPTH):
        parent = reply_id(message.get("reply_to"))
        if parent is None or parent >= message["id"]:
            return message
        try:
            message = message_by_id(store, target, parent)
        except MessageNotFound:
            return message  # it answers a message that is gone (a repaired channel): it starts the thread
    return message


def thread_of(store: Store, target: str, message_id: object, scan: int = THREAD_SCAN) -> dict[str, Any]:
    """The thread holding ``message_id``: ``{"target", "root_id", "messages"}``, oldest first."""
    target = normalize_target(target)
    wanted = validate_id(message_id, "message id", minimum=1)
    root = thread_root(store, target, message_by_id(store, target, wanted))
    members = {root["id"]}
    messages = [root]
    position, read = root["id"], 0
    while read < scan:
        page, more = store.read_since(target, position, min(FETCH_LIMIT_MAX, scan - read))
        for record in page:
            if reply_id(record.get("reply_to")) in members:
                members.add(record["id"])
                messages.append(record)
        read += len(page)
        if not more or not page:
            break
        position = page[-1]["id"]
    return {"target": target, "root_id": root["id"], "messages": messages}
