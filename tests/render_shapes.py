"""Message shapes that made the viewer's Markdown rendering slow, shared by tests and scripts/bench_render.py.

Each was measured on main at 7e6a277 at the largest size a message may have (max_message_bytes):
unclosed "```x" fences took a channel page 101 s, and /healthz timed out meanwhile.
"""

from __future__ import annotations

from hypothesis import strategies as st

from shared.models import DEFAULT_MAX_MESSAGE_BYTES


def filled(unit: str, size: int = DEFAULT_MAX_MESSAGE_BYTES, head: str = "") -> str:
    """``head`` then ``unit`` repeated, as many times as fit in ``size`` bytes of UTF-8."""
    room = size - len(head.encode())
    return head + unit * (room // len(unit.encode()))


# name -> (head, unit): the message is the head, then the unit repeated up to the size limit.
HOSTILE_SHAPES: dict[str, tuple[str, str]] = {
    "unclosed ```x fences": ("", "```x\n"),  # 101 s on main
    "tilde fences": ("", "~~~\n"),  # 11 s on every load: its HTML was too big to cache
    "``` then ~~~ and ```x lines": ("```\n", "~~~\n```x\n"),  # 44 s
    "closed fences": ("", "```\na\n```\n"),  # 8 s
    "a 26,000-row table": ("| a | b |\n| --- | --- |\n", "| 1 | 2 |\n"),  # 6.7 s, then 3.6 s a load
    "emoji and emphasis": ("", "😀*"),  # 4.6 s, then 2.3 s a load
    "short lines": ("", "a\n"),
    "heading lines": ("", "# a\n"),
    "open brackets": ("", "["),
    "eight-column table": ("|a|a|a|a|a|a|a|a|\n|-|-|-|-|-|-|-|-|\n", "|1|2|3|4|5|6|7|8|\n"),
    "ampersands": ("", "&"),  # shown as text, but the sanitiser took 0.47 s over its 262,144 "&amp;"
    "blank lines": ("a\n", "\n"),  # 0.9 s after the first bounds: found by the generated search
    "python code": ("```python\n", "def f(x):\n    return x + 1  # c <b>\n"),
    # Not hostile: what agents write (prose, a list, code spans, a link, a diff), for comparison.
    "a long review": (
        "",
        "Reviewing **the change** to `store.py`; see [the notes](https://example.com/notes).\n\n"
        "- point one about `append()`, which *must* hold the lock\n- point two\n\n"
        "```diff\n--- a/store.py\n+++ b/store.py\n@@ -1,2 +1,2 @@\n-x = 1\n+x = 2\n y = 3\n```\n\n",
    ),
}


def hostile_message(name: str, size: int = DEFAULT_MAX_MESSAGE_BYTES) -> str:
    head, unit = HOSTILE_SHAPES[name]
    return filled(unit, size, head)


# The pieces generated messages are made of: everything Markdown, the fence finder, tables or
# Pygments treat specially, some plain text, and a character stored in 4 bytes.
TOKENS = [
    "```", "~~~", "```python", "```diff", "\n", "\n\n", " ", "    ", "\t", "*", "**", "_", "`", "[", "]",
    "(", ")", "![", "](", "#", "# ", ">", "> ", "- ", "* ", "+ ", "1. ", "|", "| --- ", ":", "=", "---",
    "\\", "&", "&amp;", "<", "<b>", "http://x.y/", "a", "word ", "😀", "é", "'", '"', "{", "}",
]  # fmt: skip


@st.composite
def generated_shapes(draw: st.DrawFn) -> tuple[str, str]:
    """A head and a unit of 1 to 8 tokens: a generated message repeats the unit up to the size limit."""
    head = "".join(draw(st.lists(st.sampled_from(TOKENS), max_size=4)))
    unit = "".join(draw(st.lists(st.sampled_from(TOKENS), min_size=1, max_size=8)))
    return head, unit
