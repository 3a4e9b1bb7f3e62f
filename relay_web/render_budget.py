"""How long rendering a message would take, estimated in one linear pass before any of it is done.

A message is untrusted input of up to ``max_message_bytes`` (256 KB by default), and the viewer renders
it on a server thread. Python-Markdown's regexes hold the GIL while they run, so a slow render does not
only keep its own page waiting: it slows every other request, /healthz included. Bounding each construct
separately (relay_web/markdown_bounds.py) made no shape quadratic any more, but 256 KB of short lines,
table cells or emphasis still cost seconds, linearly. So before rendering, the message's structure is
counted (one pass over its lines), each count is priced at what it costs on the development machine, and
a message whose estimate is over RENDER_BUDGET_US is shown as its escaped text, with a note, instead.
The estimate is deterministic: the same message always renders the same way, on any machine. What is
rendered holds the GIL only briefly at a time: fences are matched a line at a time (fences.py), inline
patterns a piece of at most 2,000 characters at a time (markdown_bounds.py), Pygments a token at a time.

The prices are upper bounds for the shapes measured; a shape nobody thought of may cost more than its
estimate, which is what the benchmark's generated search is for (it found four, each fixed at its cause).

Why not a worker process with a timeout: it would bound time on any input, but then whether a message is
rendered would depend on the machine's load at that moment, every render would pay a round trip, and
the server would manage a pool. Estimating is free by comparison; ``scripts/bench.py --only render``
checks its prices against measured times, and a generated search for slow shapes reports the worst
message that is still rendered.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from html import escape

from relay_web.fences import HIGHLIGHT_BUDGET_CHARS, split_fences

# CPU microseconds one unit of each feature costs a render (Markdown, Pygments and the sanitiser
# together), measured by the calibration of scripts/bench_render.py on the development machine and
# rounded up to the dearest shape of each kind, so that the estimate is never below the measured time.
PRICES_US = {
    "chars": 0.4,  # any character of prose: ordinary text costs about this and little else
    "lines": 22.0,  # a non-blank prose line: "# a" lines (each a heading block) are the dearest
    "delimiters": 12.0,  # * _ ` [ ] ! \ & < ~: two make an element (~20 us: "word >_é>__😀" repeated)
    "pipes": 10.0,  # | : a table cell, the dearest thing in a table ("|1|2|...|8|" rows)
    "code_blocks": 40.0,  # a fenced block: highlighted, then set aside and put back into the page
    "highlighted": 3.0,  # a character of code coloured by Pygments (Python: 2.3)
    "plain_code": 0.1,  # a character of code past the highlighting budget: escaped only
}
RENDER_BUDGET_US = 500_000  # the 0.5 s one message may take: estimates are above measured times
PLAIN_TEXT_NOTE = "Shown as plain text"
_DELIMITERS = frozenset("*_`[]!\\&<~")


@dataclass(frozen=True)
class Work:
    """The countable structure of one message, priced by PRICES_US."""

    chars: int = 0
    lines: int = 0
    delimiters: int = 0
    pipes: int = 0
    code_blocks: int = 0
    highlighted: int = 0
    plain_code: int = 0

    def costs_us(self) -> dict[str, float]:
        """Each feature's estimated share of the render, in microseconds."""
        return {f.name: getattr(self, f.name) * PRICES_US[f.name] for f in fields(self)}

    def cost_us(self) -> float:
        """The estimated time of the whole render, in microseconds."""
        return sum(self.costs_us().values())

    def over_budget(self, budget_us: float = RENDER_BUDGET_US) -> str | None:
        """Why this message is too dear to render (its dearest feature), or None when it is not."""
        costs = self.costs_us()
        if sum(costs.values()) <= budget_us:
            return None
        dearest = max(costs, key=costs.__getitem__)
        count = f"{getattr(self, dearest):,} {dearest.replace('_', ' ')}"
        return f"too much to render as Markdown quickly ({count})"


def measure(text: str) -> Work:
    """Count ``text``'s structure in one pass, splitting fenced code as the renderer will."""
    chars = lines = delimiters = pipes = code_blocks = code = 0
    for segment in split_fences(text.split("\n")):
        joined = "\n".join(segment.lines)
        if segment.code:
            code_blocks += 1
            code += len(joined) + 1
            continue
        chars += len(joined)
        lines += len(segment.lines) - sum(1 for line in segment.lines if not line.strip())
        pipes += joined.count("|")
        delimiters += sum(joined.count(d) for d in _DELIMITERS)
    highlighted = min(code, HIGHLIGHT_BUDGET_CHARS)
    return Work(chars, lines, delimiters, pipes, code_blocks, highlighted, code - highlighted)


def plain_text(text: str, why: str) -> str:
    """The fallback page content: ``text`` escaped and preformatted, after a note saying why.

    Safe without the sanitiser: every character that could start a tag or an attribute is escaped.
    """
    note = f"{PLAIN_TEXT_NOTE}: this message holds {why}."
    # A newline right after <pre> is dropped by HTML parsers: this one, not the text's own first line.
    return f"<p><em>{escape(note)}</em></p>\n<pre>\n{escape(text)}</pre>"
