"""Markdown rendering: highlighted code, diffs, and hostile content rendered inert."""

import json
import re
import subprocess
import sys

import pytest
from flask import Flask
from flask.testing import FlaskClient

from relay_web.fences import HIGHLIGHT_BUDGET_CHARS
from relay_web.markdown_bounds import (
    BLOCK_MAX_LINES,
    INLINE_CHUNK_CHARS,
    MAX_LINE_NESTING,
    MAX_LINK_ATTEMPTS,
    _BoundedBlocks,
    _pieces,
)
from relay_web.render import Renderer, sanitize


@pytest.fixture
def render() -> Renderer:
    return Renderer()


def test_fenced_code_is_highlighted_by_pygments(render: Renderer) -> None:
    html = render.render("Look:\n\n```python\ndef f(x):\n    return x + 1\n```\n")
    assert '<div class="highlight">' in html
    assert '<span class="k">def</span>' in html and '<span class="nf">f</span>' in html


def test_diff_blocks_mark_deleted_and_inserted_lines(render: Renderer) -> None:
    html = render.render("```diff\n--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-old line\n+new line\n```")
    assert '<span class="gd">-old line</span>' in html
    assert '<span class="gi">+new line</span>' in html
    assert '<span class="gu">@@ -1 +1 @@</span>' in html


def test_unknown_languages_stay_readable_as_plain_text(render: Renderer) -> None:
    html = render.render("```no-such-language\nif a < b && c:\n  go()\n```")
    assert '<div class="highlight">' in html
    assert "if a &lt; b &amp;&amp; c:\n  go()" in html


def test_markdown_basics_and_line_breaks(render: Renderer) -> None:
    html = render.render("**bold** _em_ `code`\nsecond line\n\n- one\n- two\n\n> quoted")
    assert "<strong>bold</strong>" in html and "<em>em</em>" in html and "<code>code</code>" in html
    assert "<br>" in html  # a single newline is a line break, as agents write
    assert "<li>one</li>" in html and "<blockquote>" in html


HOSTILE = {
    "script tag": "<script>alert(1)</script>",
    "script in code span": "`</code><script>alert(1)</script>`",
    "event handler": '<img src=x onerror="alert(1)">',
    "svg onload": "<svg onload=alert(1)><circle/></svg>",
    "javascript link": "[click](javascript:alert(1))",
    "javascript link, mixed case and spaces": "[click]( JaVaScRiPt:alert(1))",
    "entity-encoded javascript link": "[click](jav&#x09;ascript:alert(1))",
    "data link": "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "vbscript link": "[x](vbscript:msgbox(1))",
    "html comment": "before <!-- <script>alert(1)</script> --> after",
    "unclosed tags": "<div><b><i><a href='javascript:alert(1)'>unclosed",
    "iframe": '<iframe src="https://evil.example"></iframe>',
    "style injection": "<style>body{display:none}</style><p style='position:fixed'>x</p>",
    "image with js": "![x](javascript:alert(1))",
    "autolink with quote": '<http://x.example/"onmouseover="alert(1)>',
    "raw html attribute breakout": '"><script>alert(1)</script>',
    "form": '<form action="https://evil.example"><input name=x></form>',
    "meta refresh": '<meta http-equiv="refresh" content="0;url=https://evil.example">',
    "object": '<object data="https://evil.example/x.swf"></object>',
}


def assert_inert(html: str, own_anchors: bool = False) -> None:
    lowered = html.lower()
    for tag in ("<script", "<img", "<svg", "<iframe", "<style", "<form", "<input", "<meta", "<object"):
        assert tag not in lowered, tag
    assert re.search(r"<[^>]+\son[a-z]+\s*=", lowered) is None  # no event-handler attribute
    assert re.search(r"<[^>]+\sstyle\s*=", lowered) is None
    for href in re.findall(r'href="([^"]*)"', html):
        allowed = (
            ("http://", "https://", "mailto:", "#m-", "/channels/proj-x/threads/")
            if own_anchors
            else ("http://", "https://", "mailto:")
        )
        assert href.startswith(allowed), href


@pytest.mark.parametrize("text", list(HOSTILE.values()), ids=list(HOSTILE))
def test_hostile_content_is_rendered_inert(render: Renderer, text: str) -> None:
    assert_inert(render.render(text))


def test_raw_html_is_shown_as_the_text_its_author_typed(render: Renderer) -> None:
    html = render.render("use <b>bold</b> & <script>x</script>")
    assert "&lt;b&gt;bold&lt;/b&gt;" in html and "&lt;script&gt;x&lt;/script&gt;" in html


def test_only_http_https_and_mailto_links_survive(render: Renderer) -> None:
    html = render.render(
        "[a](https://ok.example/x?y=1) [b](http://ok.example) <mailto:me@ok.example> [c](/relative) [d](ftp://x)"
    )
    hrefs = re.findall(r'href="([^"]*)"', html)
    assert hrefs[:2] == ["https://ok.example/x?y=1", "http://ok.example"]
    assert len(hrefs) == 3 and "ok.example" in html  # mailto is entity-obfuscated by Markdown
    assert 'rel="noopener noreferrer nofollow"' in html


def test_images_become_links_and_never_load(render: Renderer) -> None:
    html = render.render("![diagram](https://img.example/d.png)")
    assert "<img" not in html
    assert 'href="https://img.example/d.png"' in html and "[image: diagram]" in html


def test_the_sanitizer_alone_strips_what_markdown_might_let_through() -> None:
    html = sanitize(
        '<p onclick="x()">hi<script>bad()</script><a href="javascript:x">l</a>'
        '<span class="evil k">s</span></p>'
    )
    assert html.startswith("<p>hi") and "bad()" not in html and "onclick" not in html
    assert 'class="k"' in html and "evil" not in html
    assert "javascript" not in html


def test_a_200_kb_message_renders_inert_and_complete(render: Renderer) -> None:
    chunk = "<script>alert(1)</script> **word** [x](javascript:y) <img src=x onerror=z>\n"
    text = chunk * (200_000 // len(chunk))
    html = render.render(text)
    assert_inert(html)
    assert html.count("<strong>word</strong>") == text.count("**word**")


def test_code_is_coloured_up_to_the_highlighting_budget_then_shown_escaped(render: Renderer) -> None:
    small = "```python\n" + "x = 1  # <script>\n" * 1000 + "```\n"
    big = "```python\n" + "x = 1  # <script>\n" * 11_200 + "```"
    assert len(small) < HIGHLIGHT_BUDGET_CHARS < len(small + big) and len(big) > 200_000
    html = render.render(small + big)
    assert_inert(html)
    assert html.count('<div class="highlight">') == 2
    assert html.count('<span class="c1"># &lt;script&gt;</span>') == 1000  # the first block, coloured
    assert html.count("x = 1  # &lt;script&gt;") == 11_200  # the second, complete but not coloured


# Shapes on which Python-Markdown's work grows with the square of the text (or worse), at the largest
# size a message may have. Before the bounds in relay_web/render.py, "[" took hours, "=" lines six
# minutes, short lines a minute, and "  * " crashed the page with a RecursionError.
PATHOLOGICAL = {
    "open brackets": "[",
    "open image brackets": "![",
    "unclosed link destinations": "[a](",
    "setext underlines": "=\n",
    "heading lines": "# a\n",
    "short lines": "a\n",
    "emphasis": "*a",
    "code spans": "`a",
    "nested list markers": "  * ",
    "nested ordered markers": "1. ",
    "nested quotes": "> ",
    "dash nesting": "- ",
}
HANG_GUARD_S = 600  # the bounded renderer needs seconds; before, "[" alone needed hours


@pytest.mark.slow
def test_pathological_markdown_of_the_largest_size_renders_completely() -> None:
    """Runs in a child process so a regression fails this test instead of hanging the suite."""
    code = (
        "import json, sys\n"
        "from relay_web.render import Renderer\n"
        "from shared.models import DEFAULT_MAX_MESSAGE_BYTES as N\n"
        "done = {}\n"
        "for name, unit in json.loads(sys.argv[1]).items():\n"
        "    text = (unit * (N // len(unit) + 1))[: N - 2] + ' x'\n"
        "    done[name] = len(Renderer().render(text))\n"
        "print(json.dumps(done))\n"
    )
    finished = subprocess.run(
        [sys.executable, "-c", code, json.dumps(PATHOLOGICAL)],
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_S,
    )
    assert finished.returncode == 0, finished.stderr
    rendered = json.loads(finished.stdout)
    assert set(rendered) == set(PATHOLOGICAL) and all(size > 0 for size in rendered.values())


def test_deep_nesting_is_shown_as_typed_instead_of_failing(render: Renderer) -> None:
    text = "  * " * 2000 + "deep"  # Python-Markdown recursed once per level: a RecursionError
    html = render.render(text)
    assert "deep" in html and html.count("<ul>") <= MAX_LINE_NESTING


def test_a_line_nests_lists_and_quotes_at_most_so_deep(render: Renderer) -> None:
    html = render.render("- " * 40 + "leaf")
    assert html.count("<ul>") == MAX_LINE_NESTING and "- - - leaf" in html
    assert render.render("> " * 40 + "q").count("<blockquote>") <= MAX_LINE_NESTING + 1


def test_quote_markers_without_spaces_nest_at_most_so_deep(render: Renderer) -> None:
    html = render.render(">" * 5000 + "q")  # 298 quotes deep before, and 3.3 s at 256 KB
    assert html.count("<blockquote>") == MAX_LINE_NESTING and html.count("&gt;") == 5000 - MAX_LINE_NESTING


def test_runs_of_blank_lines_are_cut_to_two_outside_fenced_code(render: Renderer) -> None:
    out = _BoundedBlocks(None).run(["a", *[""] * 10, "b", " ", "\t", "", "c"])  # type: ignore[arg-type]
    assert out == ["a", "", "", "b", " ", "\t", "c"]
    assert render.render("```\nx" + "\n" * 10 + "y\n```").count("\n") >= 10  # code keeps its lines


def test_long_blocks_are_cut_but_tables_are_not() -> None:
    lines = ["# heading"] * 450 + ["", "| a | b |", "| --- | --- |"] + ["| 1 | 2 |"] * 450
    out = _BoundedBlocks(None).run(lines)  # type: ignore[arg-type]
    blocks = "\n".join(out).split("\n\n")
    assert [len(b.splitlines()) for b in blocks] == [BLOCK_MAX_LINES, BLOCK_MAX_LINES, 50, 452]
    assert [line for line in out if line] == lines[:450] + lines[451:]


def test_long_text_is_inlined_piece_by_piece_and_keeps_its_markdown(render: Renderer) -> None:
    text = "".join(f"line {i} with **bold** and [a link](https://example.com/{i})\n" for i in range(3000))
    pieces = _pieces(text)
    assert "".join(pieces) == text and all(len(piece) <= INLINE_CHUNK_CHARS for piece in pieces)
    assert all(piece.endswith("\n") for piece in pieces)  # cut at line ends
    html = render.render(text)
    assert html.count("<strong>bold</strong>") == 3000
    # 3,000 lines without a blank one: 15 paragraphs of BLOCK_MAX_LINES lines, line breaks inside.
    assert (
        html.count("<p>") == 3000 // BLOCK_MAX_LINES and html.count("<br>") == 3000 - 3000 // BLOCK_MAX_LINES
    )
    # Each inline link costs two tries (as a reference link, then inline); past the budget, text.
    assert html.count('href="https://example.com/') == MAX_LINK_ATTEMPTS // 2
    assert "[a link](https://example.com/2999)" in html


def test_rendering_is_cached_and_the_cache_stays_bounded() -> None:
    render = Renderer(budget_bytes=10_000)
    first = render.render("hello *there*")
    assert render.render("hello *there*") is first
    for i in range(500):
        render.render(f"message number {i}")
    assert render._cached_bytes <= 10_000


def test_the_cache_bound_is_in_bytes_of_memory_whatever_the_characters() -> None:
    render = Renderer(budget_bytes=200_000)
    for i in range(300):  # an emoji makes Python store every character of a text in 4 bytes
        render.render(f"🎉 message {i} " + "é" * 200)
    held = sum(sys.getsizeof(text) + sys.getsizeof(html) for text, html in render._cache.items())
    assert held == render._cached_bytes and 150_000 < held <= 200_000


def test_hostile_messages_and_senders_are_inert_in_the_page(client: FlaskClient, app: Flask) -> None:
    relay = app.extensions["relay_web"].relay
    for name, text in HOSTILE.items():
        relay.post("proj-x", text, "<img src=x onerror=alert(1)>", source="cli")
        relay.post("proj-x", name, '"><script>alert(2)</script>', source="cli")
    html = client.get("/channels/proj-x").get_data(as_text=True)
    body = html.split('<div id="message-list">', 1)[1].split("</section>", 1)[0]
    assert_inert(body, own_anchors=True)
    assert "&lt;img src=x onerror=alert(1)&gt;" in body  # the sender, escaped by Jinja
    updates = client.get("/ui/channels/proj-x/updates?since_id=0").get_json()
    assert len(updates["messages"]) == 2 * len(HOSTILE)
    for item in updates["messages"]:
        assert_inert(item["html"], own_anchors=True)
