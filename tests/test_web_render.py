"""Markdown rendering: highlighted code, diffs, and hostile content rendered inert."""

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

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
            ("http://", "https://", "mailto:", "#m-") if own_anchors else ("http://", "https://", "mailto:")
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


def test_a_200_kb_code_block_is_highlighted(render: Renderer) -> None:
    text = "```python\n" + "x = 1  # <script>\n" * 11_200 + "```"
    assert len(text) > 200_000
    html = render.render(text)
    assert_inert(html)
    assert html.count('<span class="c1"># &lt;script&gt;</span>') == 11_200


def test_rendering_is_cached_and_the_cache_stays_bounded() -> None:
    render = Renderer(budget_chars=10_000)
    first = render.render("hello *there*")
    assert render.render("hello *there*") is first
    for i in range(500):
        render.render(f"message number {i}")
    assert render._cached_chars <= 10_000


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
