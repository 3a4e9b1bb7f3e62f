"""Bounds on the work Python-Markdown may do for one message, whatever its text.

A message is untrusted input of up to ``max_message_bytes`` (256 KB by default), and Python-Markdown
does work that grows with the square of some inputs, or worse. Found by the stored-XSS corpus and the
probes in tests/test_web_render.py: one message could hold a viewer thread for hours or make its
channel page fail. Each bound below says what it stops; together they keep a maximal message of any
shape to a few seconds, once (rendered HTML is cached). The sanitiser still runs on the result.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as etree

import markdown
from markdown.extensions import Extension
from markdown.inlinepatterns import LinkInlineProcessor
from markdown.preprocessors import Preprocessor
from markdown.treeprocessors import Treeprocessor
from markdown.util import AtomicString

# Python-Markdown looks for the "]" and ")" that close a link by scanning from every "[" to the end of
# the text, so a message of 50,000 "[" took minutes and one of 262,144 hours, holding a server thread
# all along (upstream issue #798, left open). Here each "[" looks ahead at most MAX_LINK_SPAN
# characters and a message gets at most MAX_LINK_ATTEMPTS tries (an inline link takes two: as a
# reference link, then inline); past either, "[" is plain text. Real links are far shorter and far
# fewer than that, and the worst message now renders in well under a second.
MAX_LINK_SPAN = 2048
MAX_LINK_ATTEMPTS = 2000
# Inline Markdown (emphasis, code spans, links, line breaks) rebuilds a paragraph's whole text once
# per construct it finds, so one 256 KB paragraph of short lines took a minute. A text run longer
# than INLINE_CHUNK_CHARS is cut at line ends (else at a space) into pieces of at most that size,
# each processed on its own: the work grows with the text, not with its square. A construct spanning
# a cut (rare: only in paragraphs that long) shows as its raw characters. Code blocks are not cut.
INLINE_CHUNK_CHARS = 2_000
# Python-Markdown's block processors (headings, setext underlines, lists) re-scan the rest of a block
# for every line they take from it, so 64 KB of "# a" lines without a blank line took 7 s, and of "="
# lines 24 s. A block is given a blank line after every BLOCK_MAX_LINES lines (tables excepted: they
# are processed in one pass), so no block is long enough to hurt; a longer list or paragraph is shown
# as several.
BLOCK_MAX_LINES = 200
# Python-Markdown takes each block off the front of a list (list.pop(0)), so its work grows with the
# square of the number of blocks, and every blank line after another is a block of its own: 256 KB of
# newlines took 0.9 s (found by the generated search of scripts/bench_render.py). Outside fenced code,
# a run of blank lines means what two mean, so longer runs are cut to MAX_BLANK_RUN (an indented code
# block keeps at most that many blank lines in a row).
MAX_BLANK_RUN = 2
_SEPARATOR_CELL = re.compile(r":?-+:?")
# Each list or quote marker at the start of a line ("- - - - x", "> > > x") nests one level, and every
# level re-scans the rest of the line: 128 KB of "- " took 18 s and deeper nesting overflowed the
# stack. Markers past the first MAX_LINE_NESTING of a line are escaped, so they show as typed.
MAX_LINE_NESTING = 16
# One whitespace character after each list marker, the rest before the next: a regex whose whitespace
# runs could be split two ways backtracks quadratically on a long run of spaces. A quote marker needs
# no space after it (">>>" nests three quotes): 256 KB of ">" took 3.3 s, found by the generated search
# of scripts/bench_render.py.
_NESTED_MARKERS = re.compile(rf"(?:[ \t]*(?:(?:[*+-]|\d{{1,9}}[.)])[ \t]|>)){{{MAX_LINE_NESTING}}}")
_NEXT_MARKER = re.compile(r"[ \t]*(?:([*+>-])|\d{1,9}([.)]))")


class LinkBudget:
    """How many more "[" the message being rendered may try as a link."""

    def __init__(self) -> None:
        self.left = MAX_LINK_ATTEMPTS

    def reset(self) -> None:
        """A new message: a full budget again."""
        self.left = MAX_LINK_ATTEMPTS


class _BoundedLink(LinkInlineProcessor):
    """A link processor whose look-ahead and number of tries are bounded (see MAX_LINK_SPAN)."""

    budget: LinkBudget

    def getText(self, data: str, index: int) -> tuple[str, int, bool]:
        if self.budget.left <= 0:
            return "", index, False
        self.budget.left -= 1
        return super().getText(data[: index + MAX_LINK_SPAN], index)

    def getLink(self, data: str, index: int) -> tuple[str, str | None, int, bool]:
        return super().getLink(data[: index + MAX_LINK_SPAN], index)


class BoundedWork(Extension):
    """Every bound of this module: links, long blocks, deep nesting, long text runs."""

    # Python-Markdown's names and priorities for them (markdown.inlinepatterns.build_inlinepatterns).
    LINK_PROCESSORS = (
        ("reference", 170),
        ("link", 160),
        ("image_link", 150),
        ("image_reference", 140),
        ("short_reference", 130),
        ("short_image_ref", 125),
    )

    def __init__(self, budget: LinkBudget) -> None:
        super().__init__()
        self.budget = budget

    def extendMarkdown(self, md: markdown.Markdown) -> None:
        for name, priority in self.LINK_PROCESSORS:
            original = md.inlinePatterns[name]
            if not isinstance(original, LinkInlineProcessor):
                raise TypeError(f"Markdown's {name!r} processor is not a link processor any more")
            kind = type(f"Bounded{type(original).__name__}", (_BoundedLink, type(original)), {})
            bounded = kind(original.pattern, md)
            bounded.budget = self.budget
            md.inlinePatterns.register(bounded, name, priority)
        # 15: after fenced code blocks are set aside (25), so they are never cut.
        md.preprocessors.register(_BoundedBlocks(md), "bounded_blocks", 15)
        # 21: just before Python-Markdown's "inline" tree processor (20).
        md.treeprocessors.register(_LongTextInPieces(md), "long_text_in_pieces", 21)


def _limit_nesting(line: str) -> str:
    """``line`` with the marker after the first MAX_LINE_NESTING escaped (a backslash before it)."""
    nested = _NESTED_MARKERS.match(line)
    if nested is None:
        return line
    marker = _NEXT_MARKER.match(line, nested.end())
    if marker is None:
        return line
    at = marker.start(1) if marker.group(1) else marker.start(2)
    return f"{line[:at]}\\{line[at:]}"


def _is_table_separator(line: str) -> bool:
    """Whether ``line`` is a table's second line, such as ``| --- | :-: |`` (checked cell by cell)."""
    cells = line.strip().strip("|").split("|")
    return all(_SEPARATOR_CELL.fullmatch(cell.strip()) for cell in cells)


class _BoundedBlocks(Preprocessor):
    """Start a new block after every BLOCK_MAX_LINES lines of one (outside tables and code fences),
    cut runs of blank lines to MAX_BLANK_RUN, and limit how deep one line may nest lists and quotes."""

    def run(self, lines: list[str]) -> list[str]:
        out: list[str] = []
        size = blanks = 0
        table = False
        for line in map(_limit_nesting, lines):
            if not line.strip():
                size, table = 0, False
                blanks += 1
                if blanks > MAX_BLANK_RUN:
                    continue
            else:
                blanks = 0
                size += 1
                if size == 2 and "|" in line and _is_table_separator(line):
                    table = True
                if size > BLOCK_MAX_LINES and not table:
                    out.append("")
                    size = 1
            out.append(line)
        return out


def _pieces(text: str) -> list[str]:
    """``text`` cut into pieces of at most INLINE_CHUNK_CHARS, after a line break where possible."""
    pieces = []
    start = 0
    while start < len(text):
        end = min(start + INLINE_CHUNK_CHARS, len(text))
        if end < len(text):
            cut = text.rfind("\n", start, end)
            if cut <= start:
                cut = text.rfind(" ", start, end)
            if cut > start:
                end = cut + 1
        pieces.append(text[start:end])
        start = end
    return pieces


def _as_spans(text: str) -> list[etree.Element]:
    spans = []
    for piece in _pieces(text):
        span = etree.Element("span")
        span.text = piece
        spans.append(span)
    return spans


class _LongTextInPieces(Treeprocessor):
    """Cut text runs longer than INLINE_CHUNK_CHARS into spans the inline processor takes one by one."""

    def run(self, root):  # type: ignore[no-untyped-def]
        for parent in list(root.iter()):
            for index, child in reversed(list(enumerate(parent))):
                if _is_long(child.tail):
                    tail, child.tail = child.tail, None
                    for offset, span in enumerate(_as_spans(tail)):
                        parent.insert(index + 1 + offset, span)
            if _is_long(parent.text):
                text, parent.text = parent.text, None
                for offset, span in enumerate(_as_spans(text)):
                    parent.insert(offset, span)


def _is_long(text: str | None) -> bool:
    return text is not None and len(text) > INLINE_CHUNK_CHARS and not isinstance(text, AtomicString)
