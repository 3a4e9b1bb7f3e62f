"""Messages as Markdown, for the channel resources and for hooks that hand messages to an agent."""

from __future__ import annotations

from collections.abc import Iterable

from shared.models import Message
from shared.records import calendar_time, display_sender, reply_id
from shared.trust import message_origins, source_of, untrusted_framing


def _when(record: Message) -> str:
    when = calendar_time(record.get("ts"))
    return when.strftime("%Y-%m-%d %H:%M:%S UTC") if when else "unknown time"


def message_heading(record: Message) -> str:
    """``#7 codex via mcp, 2025-01-01 12:00:00 UTC (reply to #6)``: who, how it arrived, when, what it
    answers. The source is there because the sender is only a label (see shared/trust.py)."""
    sender = display_sender(record.get("sender"))
    replied = reply_id(record.get("reply_to"))
    answer = f" (reply to #{replied})" if replied else ""
    return f"#{record.get('id', '?')} {sender} via {source_of(record)}, {_when(record)}{answer}"


def message_markdown(record: Message, max_chars: int | None = None) -> str:
    """One message as a Markdown section; a text over ``max_chars`` is cut with a note on reading it whole."""
    text = str(record.get("text", ""))
    if max_chars is not None and len(text) > max_chars:
        before = int(record.get("id", 1)) - 1
        text = (
            text[:max_chars].rstrip()
            + f"\n\n[... cut at {max_chars} of {len(text)} characters; read it whole with fetch_messages "
            f"target={record.get('target', '?')!r} since_id={before} limit=1]"
        )
    return f"### {message_heading(record)}\n\n{text.rstrip()}\n"


def conversation_markdown(target: str, messages: Iterable[Message]) -> str:
    """A channel's messages as one Markdown document, oldest first, framed as untrusted input."""
    shown = list(messages)
    parts = [f"# Relay channel {target}\n", untrusted_framing(target, message_origins(shown)) + "\n"]
    parts.extend([message_markdown(record) for record in shown] or ["(no messages yet)\n"])
    return "\n".join(parts)
