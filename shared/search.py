"""What a search query means, in one place for every store and front end.

A query is one to ``QUERY_MAX_CHARS`` characters; its words (split on white space) must all occur in a
message's text or sender, case-insensitively (Unicode case folding), anywhere in a word: ``revi``
finds "Review". Results are newest first. A file store answers by scanning backwards from the newest
message, so a search is bounded in time (``SEARCH_BUDGET_S``): what it found by then is returned and
marked incomplete, never an endless scan of a year of history.
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.errors import InvalidInput
from shared.models import Message, clamp_limit

QUERY_MAX_CHARS = 200
SEARCH_LIMIT_MAX = 200
SEARCH_DEFAULT_LIMIT = 50
SEARCH_BUDGET_S = 2.0
"""How long one search may scan before it returns what it found (ample for ~1M messages here)."""
# Characters JSON writes escaped inside a string: a word holding one cannot be found in the raw line.
_JSON_ESCAPED = frozenset('"\\') | frozenset(chr(c) for c in range(0x20))


class Found(list[Message]):
    """Search results, newest first; ``complete`` is False when the time budget ran out first."""

    complete: bool = True


@dataclass(frozen=True)
class SearchQuery:
    """A validated query: its case-folded words, and their bytes for the raw-line pre-check."""

    text: str
    words: tuple[str, ...]
    plain: bool
    ascii_words: tuple[bytes, ...] | None

    @classmethod
    def parse(cls, query: object) -> SearchQuery:
        """The query, or InvalidInput saying how to write one."""
        if not isinstance(query, str) or not query.strip():
            raise InvalidInput("query is required: one or more words to find in message texts or senders")
        text = query.strip()
        if len(text) > QUERY_MAX_CHARS:
            raise InvalidInput(f"query is {len(text)} characters; at most {QUERY_MAX_CHARS} are allowed")
        words = tuple(dict.fromkeys(word.casefold() for word in text.split()))
        plain = not any(_JSON_ESCAPED.intersection(word) for word in words)
        ascii_words = tuple(w.encode("ascii") for w in words) if all(w.isascii() for w in words) else None
        return cls(text, words, plain, ascii_words)

    def may_match(self, line: bytes) -> bool:
        """False only when the stored line cannot hold a match: saves parsing most lines.

        The relay writes text as it is (``ensure_ascii=False``), escaping only quotes, backslashes and
        control characters, which no word of a plain query holds; so every word found in the record's
        case-folded text is also in the case-folded line. An ASCII line is folded as bytes (exact for
        ASCII); a line with ``\\u`` escapes (written by another tool) is left to the full check.
        """
        if not self.plain or b"\\u" in line:
            return True
        if line.isascii():
            if self.ascii_words is None:
                return False  # a word with a character no ASCII line holds, even case-folded
            folded = line.lower()
            return all(word in folded for word in self.ascii_words)
        decoded = line.decode("utf-8", "replace").casefold()
        return all(word in decoded for word in self.words)

    def matches(self, record: Message) -> bool:
        """Whether every word occurs in the record's text or sender."""
        text, sender = record.get("text"), record.get("sender")
        haystack = f"{text if isinstance(text, str) else ''}\n{sender if isinstance(sender, str) else ''}"
        folded = haystack.casefold()
        return all(word in folded for word in self.words)


def search_limit(limit: object) -> int:
    """The number of results asked for, clamped into 1..SEARCH_LIMIT_MAX (None: the default)."""
    return clamp_limit(limit, SEARCH_LIMIT_MAX, SEARCH_DEFAULT_LIMIT)


def newest_first(groups: list[list[Message]], limit: int) -> list[Message]:
    """Merge per-channel results (each newest first) into one list, newest first, at most ``limit``."""
    merged = [record for group in groups for record in group]
    merged.sort(key=lambda r: (float(r.get("ts", 0.0)), r.get("target", ""), r["id"]), reverse=True)
    return merged[:limit]
