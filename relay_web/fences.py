"""Fenced code blocks found in one linear pass, each highlighted by Pygments on its own.

Python-Markdown's fenced_code extension finds fences with one regex over the whole text, searched again
from each fence it replaces, and rebuilds the text each time: its work grows with the square of the
number of fences, so 256 KB of unclosed "```x" lines held a viewer thread (and, the regex holding the
GIL, the whole viewer) for 101 s. Here a fence is a line, recognised by looking at that line alone, and
every line is looked at once. As in CommonMark, a closing fence is a line of the opening fence's
character, at least as long, and a fence left open runs to the end of the message (a truncated message
still shows its code as code). Everything outside the fences is left to Python-Markdown.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

import markdown
import pygments
from markdown.extensions import Extension
from markdown.preprocessors import Preprocessor
from pygments.formatters import HtmlFormatter
from pygments.lexer import Lexer
from pygments.lexers import get_lexer_by_name
from pygments.util import ClassNotFound

# A fence: three or more backticks or tildes at the start of a line, then an optional info string whose
# first word (after an optional "." or "{.") names the language. A backtick fence's info string may not
# hold a backtick (CommonMark), so "```a``` b" stays an inline code span.
_OPENER = re.compile(r"(?P<fence>`{3,}(?=[^`]*$)|~{3,})[ \t]*(?P<info>.*)")
_LANGUAGE = re.compile(r"\{?\.?(?P<lang>[\w#.+-]+)")
_CLOSER = re.compile(r"(?P<fence>`{3,}|~{3,})[ \t]*")
# Pygments costs 2 to 3 us a character of Python (each token is tried against each rule in turn): a
# message's code blocks are coloured while together they stay within HIGHLIGHT_BUDGET_CHARS; the block
# that would go past it, and every block after it, is shown escaped and uncoloured.
HIGHLIGHT_BUDGET_CHARS = 32_768


@dataclass
class Segment:
    """Consecutive lines of a message: prose for Markdown, or the inside of one fenced code block."""

    code: bool
    lines: list[str] = field(default_factory=list)
    language: str | None = None


def _opening(line: str) -> tuple[str, str | None] | None:
    """The fence and language of an opening fence line, or None when ``line`` opens nothing."""
    opener = _OPENER.fullmatch(line)
    if opener is None:
        return None
    language = _LANGUAGE.match(opener["info"])
    return opener["fence"], language["lang"] if language else None


def _closes(line: str, fence: str) -> bool:
    closer = _CLOSER.fullmatch(line)
    return closer is not None and closer["fence"][0] == fence[0] and len(closer["fence"]) >= len(fence)


def split_fences(lines: list[str]) -> list[Segment]:
    """``lines`` as alternating prose and code segments, in one pass (the fence lines themselves dropped)."""
    segments = [Segment(code=False)]
    fence = ""
    for line in lines:
        if fence:
            if _closes(line, fence):
                fence = ""
                segments.append(Segment(code=False))
            else:
                segments[-1].lines.append(line)
            continue
        opening = _opening(line) if line[:3] in ("```", "~~~") else None
        if opening is None:
            segments[-1].lines.append(line)
        else:
            fence, language = opening
            segments.append(Segment(code=True, language=language))
    return segments


@functools.lru_cache(maxsize=256)
def _lexer(language: str | None) -> Lexer:
    """One lexer per language name, reused: Pygments looks a name up by scanning all its lexers."""
    try:
        return get_lexer_by_name(language or "text")
    except ClassNotFound:
        return get_lexer_by_name("text")  # unknown: plain text, never guessed and mis-coloured


def highlight(code: str, language: str | None, formatter: HtmlFormatter[str]) -> str:
    """``code`` as Pygments HTML (an unknown or missing language as plain text)."""
    return pygments.highlight(code.strip("\n"), _lexer(language), formatter)


class _LinearFences(Preprocessor):
    """Set each fenced block aside as highlighted HTML, as fenced_code does, in one pass."""

    def __init__(self, md: markdown.Markdown, css_class: str) -> None:
        super().__init__(md)
        # Built once: a formatter computes its whole style sheet when created (1 ms, per block before).
        self.formatter: HtmlFormatter[str] = HtmlFormatter(cssclass=css_class, wrapcode=True)

    def run(self, lines: list[str]) -> list[str]:
        out: list[str] = []
        budget = HIGHLIGHT_BUDGET_CHARS
        for segment in split_fences(lines):
            if not segment.code:
                out.extend(segment.lines)
                continue
            code = "\n".join(segment.lines)
            budget -= len(code) + 1
            html = highlight(code, segment.language if budget >= 0 else None, self.formatter)
            # Blank lines around, two after: the placeholder must be a paragraph of its own even at
            # the end of the message, or Markdown wraps the code in <p> and a line break.
            out.extend(["", self.md.htmlStash.store(html), "", ""])
        return out


class LinearFencedCode(Extension):
    """Python-Markdown's fenced_code, under its name and priority, without its quadratic search."""

    def __init__(self, css_class: str = "highlight") -> None:
        super().__init__()
        self.css_class = css_class

    def extendMarkdown(self, md: markdown.Markdown) -> None:
        md.preprocessors.register(_LinearFences(md, self.css_class), "fenced_code_block", 25)
