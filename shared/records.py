"""Showing records that other tools wrote, whatever values they hold.

The channel files are a public format: anyone may append a line with ``jq`` or a script. A line that
:func:`shared.storage.files.jsonl.parse_record` accepts has an integer id, a finite number ``ts`` and string
``target``, ``sender`` and ``text``, but nothing more is promised: ``ts`` may be ``1e300`` (no calendar
has that year), ``reply_to`` a string, ``source`` a list, an unknown key ``NaN``. Every reader (pages,
API, CLI, MCP tools and resources, hooks) shows such a value as unknown instead of failing, through the
helpers here; ``relay check`` lists them with :func:`odd_values`, as notes, because the message itself
is still served.
"""

from __future__ import annotations

import json
import math
import re
import sys
from datetime import datetime, timezone
from typing import Any

from shared.errors import InvalidInput
from shared.models import SOURCES, Message, normalize_sender, validate_text

UNKNOWN_SENDER = "?"
# Shown by a terminal as commands (ESC starts colour changes, cursor moves, title changes): a line
# written by another tool must not be able to drive the reader's terminal. Tab and line breaks stay.
_TERMINAL_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def calendar_time(ts: object, *, local: bool = False) -> datetime | None:
    """The time ``ts`` (epoch seconds) names, in UTC or local time; None if no calendar can show it.

    Python's calendar runs from year 1 to 9999: ``1e300``, ``-1e300`` or ``253402300800`` (year 10000)
    are valid JSON numbers in a record, but have no date.
    """
    if isinstance(ts, bool) or not isinstance(ts, (int, float)):
        return None
    try:
        when = datetime.fromtimestamp(ts, timezone.utc)
        return when.astimezone() if local else when
    except (OverflowError, ValueError, OSError):
        return None


def display_sender(sender: object) -> str:
    """The sender to show: the record's, or ``?`` when it is blank."""
    return sender.strip() if isinstance(sender, str) and sender.strip() else UNKNOWN_SENDER


def reply_id(value: object) -> int | None:
    """``reply_to`` if it names a message (a whole number >= 1), else None."""
    return value if type(value) is int and value >= 1 else None


def for_terminal(text: str) -> str:
    """``text`` with control characters other than tab and line breaks written as ``\\x1b`` escapes."""
    return _TERMINAL_CONTROL.sub(lambda found: f"\\x{ord(found.group()):02x}", text)


def finite_json(value: Any) -> Any:
    """``value`` with every NaN or infinite number replaced by None: JSON has no such numbers.

    Python reads ``NaN``, ``Infinity`` and ``1e400`` in a line, and would write them back as ``NaN``
    and ``Infinity``, which browsers' ``JSON.parse`` and ``jq`` refuse.
    """
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: finite_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [finite_json(item) for item in value]
    return value


def json_text(value: Any, **options: Any) -> str:
    """``json.dumps`` that always writes standard JSON (non-finite numbers become ``null``)."""
    try:
        return json.dumps(value, allow_nan=False, **options)
    except ValueError:  # rare: a record holding NaN or Infinity; only then is it copied
        return json.dumps(finite_json(value), allow_nan=False, **options)


def _has_non_finite(value: Any) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if isinstance(value, dict):
        return any(_has_non_finite(item) for item in value.values())
    if isinstance(value, list):
        return any(_has_non_finite(item) for item in value)
    return False


def _refusal(check: Any, value: object) -> str | None:
    try:
        check(value)
    except InvalidInput as exc:
        return str(exc)
    return None


def odd_values(record: Message, target: str) -> list[str]:
    """What a valid record of channel ``target`` holds that the relay would never write, and how readers
    show it; empty for every record the relay wrote itself."""
    found: list[str] = []
    ts = record["ts"]
    if calendar_time(ts) is None:
        found.append(f"ts {ts!r} is no date a calendar shows (years 1 to 9999); readers show 'unknown time'")
    elif ts < 0:
        found.append(f"ts {ts!r} is before 1970; the relay writes the time a message was posted")
    if record["target"] != target:
        found.append(f"target {record['target']!r} is not this file's channel {target!r}; served as written")
    sender_problem = _refusal(normalize_sender, record["sender"])
    if sender_problem:
        shown = display_sender(record["sender"])
        found.append(f"a sender the relay would refuse ({sender_problem}); readers show {shown[:40]!r}")
    text_problem = _refusal(lambda text: validate_text(text, sys.maxsize), record["text"])
    if text_problem:
        found.append(f"a text the relay would refuse ({text_problem}); served as written")
    if record.get("reply_to") is not None and reply_id(record["reply_to"]) is None:
        found.append(f"reply_to {record['reply_to']!r:.40} is not a message id; readers show no reply link")
    if "source" in record and record["source"] not in SOURCES:
        found.append(f"source {record['source']!r:.40} is not one of {', '.join(SOURCES)}")
    if _has_non_finite(record):
        found.append("holds NaN or an infinite number, which JSON does not have; readers serve null instead")
    return found
