"""Error texts that say what was wrong and where: an unknown channel (with the close names), and the
syntax errors of the JSON and TOML files users edit by hand."""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable

from tomlkit.exceptions import ParseError, TOMLKitError

from shared.errors import ChannelNotFound


def unknown_channel(target: str, known: Iterable[str]) -> ChannelNotFound:
    """The error for a channel with no messages that is not a seed channel, naming the close ones.

    A silent empty answer (what ``relay tail`` used to give) reads as "nobody posted yet", when the
    usual cause is a typo or another data dir; naming the near names tells the two apart.
    """
    names = sorted(known)
    close = difflib.get_close_matches(target, names, n=3, cutoff=0.5)
    text = f"there is no channel {target!r}"
    if close:
        return ChannelNotFound(f"{text}; did you mean {' or '.join(map(repr, close))}?")
    if names:
        shown = ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
        return ChannelNotFound(f"{text}; the channels are: {shown} (relay channels lists them)")
    return ChannelNotFound(f"{text}; this store has no channels yet (check the data dir with relay config)")


def json_error_text(exc: json.JSONDecodeError, with_line: bool = True) -> str:
    """``exc`` as "<what> at line L column C", without the doubled "at" some of Python's messages end in.

    ``json`` says "Unterminated string starting at" and leaves the position to the caller, so
    appending " at column 9" read "starting at at column 9".
    """
    what = exc.msg.removesuffix(" at")
    where = f"line {exc.lineno} column {exc.colno}" if with_line else f"column {exc.colno}"
    return f"{what} at {where}"


def toml_error_text(exc: TOMLKitError) -> str:
    """A tomlkit parse error in words: the end of the file is named as such, not as the character NUL.

    tomlkit reports a value cut off by the end of the file (``bad = [``) as "Unexpected character:
    '\x00' at line 1 col 0": its end-of-input marker, at a position that is not where the value began.
    """
    text = str(exc)
    if "'\\x00'" in text or "end of file" in text:
        return "the file ends in the middle of a value (look for an unclosed [, { or quote)"
    if isinstance(exc, ParseError):
        return f"{text.split(' at line ')[0].rstrip('.')} at line {exc.line} column {exc.col}"
    return text
