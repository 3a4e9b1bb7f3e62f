"""The message record and the rules every front end shares: names, senders, texts and limits."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from shared.errors import InvalidInput, InvalidSender, InvalidTarget, InvalidText, MessageTooLarge

TARGET_RULE = (
    "a channel name is 1 to 64 characters of letters, digits, '.', '_' and '-', "
    "starting with a letter or digit (for example 'proj-x')"
)
_TARGET_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
SENDER_MAX_CHARS = 64
DEFAULT_MAX_MESSAGE_BYTES = 262_144
# The most max_message_bytes may be set to. Readers take every line a relay with this limit could write,
# so processes with different limits read each other's messages (and never reuse their ids).
LARGEST_MAX_MESSAGE_BYTES = 64 * 1024 * 1024
FETCH_LIMIT_MAX = 200
API_LIMIT_MAX = 500
DEFAULT_LIMIT = 50
SOURCES = ("mcp", "web-ui", "cli", "api")
MAX_ID = 2**63 - 1
"""The largest id any front end accepts: a signed 64-bit integer, as PostgreSQL's bigint holds it.
Ids grow by one per message, so no channel gets near it; a larger number is a mistake, refused rather
than stored (a reply_to of 10**30 once was)."""

# Control characters (Unicode category Cc) and unpaired surrogates (Cs). Text may hold tabs and line
# breaks; any other control character (NUL above all) means binary data.
_CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_TEXT_CONTROL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
# The UTF-8 bytes of a text that needs no closer look: printable ASCII, tab, line breaks and any byte of
# a multi-byte character. Deleting them (one pass in C, ~10x faster than the regular expression) leaves
# only ASCII control characters; the C1 controls U+0080-U+009F are the one other kind, and their UTF-8
# starts with 0xC2.
_PLAIN_BYTES = bytes(range(0x20, 0x7F)) + b"\t\n\r" + bytes(range(0x80, 0x100))

Message = dict[str, Any]
"""A stored record: id, ts, target, sender, text, optional source and reply_to, plus any unknown keys."""


def _describe(value: str, limit: int = 40) -> str:
    shown = value if len(value) <= limit else value[:limit] + "..."
    return repr(shown)


def normalize_target(target: object) -> str:
    """Return the stored (lower-case) form of a channel name, or raise InvalidTarget stating the rule."""
    if not isinstance(target, str):
        raise InvalidTarget(f"target must be a string; {TARGET_RULE}")
    name = target.strip()
    if not name:
        raise InvalidTarget(f"target is required; {TARGET_RULE}")
    if not _TARGET_RE.fullmatch(name):
        raise InvalidTarget(f"invalid target {_describe(name)}: {TARGET_RULE}")
    return name.lower()


def _first_control(value: str, pattern: re.Pattern[str]) -> str | None:
    found = pattern.search(value)
    return found.group() if found else None


def normalize_sender(sender: object) -> str:
    """Return the stripped sender, or raise InvalidSender saying what is wrong."""
    if not isinstance(sender, str):
        raise InvalidSender("sender must be a string such as 'claude', 'codex' or your name")
    name = sender.strip()
    if not name:
        raise InvalidSender("sender is required: a short name such as 'claude', 'codex' or your name")
    if len(name) > SENDER_MAX_CHARS:
        raise InvalidSender(f"sender is {len(name)} characters; at most {SENDER_MAX_CHARS} are allowed")
    bad = _first_control(name, _CONTROL_RE)
    if bad is not None:
        raise InvalidSender(f"sender contains the control character U+{ord(bad):04X}; use plain text")
    return name


def validate_text(text: object, max_bytes: int) -> str:
    """Return the text unchanged if it may be posted, else raise InvalidText or MessageTooLarge."""
    if not isinstance(text, str):
        raise InvalidText("text must be a string")
    if not text or text.isspace():
        raise InvalidText("text is required: the message body, Markdown allowed")
    try:
        size = len(data := text.encode("utf-8"))
        plain = not data.translate(None, _PLAIN_BYTES) and b"\xc2" not in data
    except UnicodeEncodeError:  # only an unpaired surrogate cannot be encoded
        plain = False
    if not plain:  # find the first offending one (0xC2 also starts harmless characters such as U+00A0)
        bad = _first_control(text, _TEXT_CONTROL_RE)
        if bad is not None:
            what = "an unpaired surrogate" if unicodedata.category(bad) == "Cs" else "the control character"
            raise InvalidText(
                f"text contains {what} U+{ord(bad):04X}; binary data is not accepted, "
                "send text (encode binary content, for example as base64, inside a code block)"
            )
    if size > max_bytes:
        raise MessageTooLarge(
            f"text is {size} bytes of UTF-8; the limit is {max_bytes} bytes (max_message_bytes). "
            "Split it into several messages or post a summary"
        )
    return text


def decode_utf8(data: bytes, what: str, fix: str) -> str:
    """``data`` decoded as UTF-8, or InvalidText naming the first byte that is not, and its offset.

    Never replaced silently: a message stored with U+FFFD in place of what was sent would say
    something its author did not write, and nobody would be told.
    """
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidText(
            f"{what} is not valid UTF-8: byte 0x{data[exc.start]:02x} at offset {exc.start} "
            f"(counting from 0) {exc.reason}. {fix}"
        ) from None


def clamp_limit(limit: object, maximum: int, default: int = DEFAULT_LIMIT) -> int:
    """Clamp a requested page size into 1..maximum, as the original relay did; None means default."""
    if limit is None:
        return default
    return max(1, min(whole_number(limit, "limit", f"a whole number from 1 to {maximum}"), maximum))


def whole_number(value: object, name: str, rule: str) -> int:
    """The whole number a JSON value names, else InvalidInput saying ``<name> must be <rule>``.

    ``7.0`` is the whole number 7, as JSON Schema's ``integer`` says. A string (``"5"``) or a boolean
    (``true``, which Python counts as 1) is refused, so every front end reads an argument the same way.
    """
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        quoted = "; write it as a JSON number, without quotes" if isinstance(value, str) else ""
        raise InvalidInput(f"{name} must be {rule}{quoted}")
    return value


def validate_id(value: object, name: str, *, minimum: int = 0) -> int:
    """Return a message id from ``minimum`` (0: "from the start") to MAX_ID, or raise InvalidInput.

    The one rule for ids in every front end: ``since_id`` and ``before_id`` (minimum 0) and ``reply_to``
    (minimum 1), over MCP, HTTP and the CLI.
    """
    meaning = "a message id; 0 means from the start" if minimum == 0 else "a message id"
    rule = f"a whole number >= {minimum} and at most {MAX_ID} ({meaning})"
    number = whole_number(value, name, rule)
    if not minimum <= number <= MAX_ID:
        raise InvalidInput(f"{name} must be {rule}")
    return number


@dataclass(frozen=True)
class ChannelStats:
    """What a channel list shows about one channel."""

    target: str
    count: int
    latest_id: int
    last_ts: float | None
    last_sender: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "count": self.count,
            "latest_id": self.latest_id,
            "last_ts": self.last_ts,
            "last_sender": self.last_sender,
        }
