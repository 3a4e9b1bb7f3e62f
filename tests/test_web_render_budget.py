"""Every message, whatever its shape, renders within a budget: as Markdown, or as its text with a note."""

from __future__ import annotations

import html as html_lib
import re
import threading
import urllib.request
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import given, settings

from relay_web.fences import split_fences
from relay_web.render import Renderer
from relay_web.render_budget import PLAIN_TEXT_NOTE, measure
from shared.storage.files.store import FileStore
from tests.e2e.web_server import running_relay_web
from tests.reliability import count
from tests.render_shapes import HOSTILE_SHAPES, filled, generated_shapes, hostile_message
from tests.test_web_render import assert_inert

# How each shape of the largest size is shown: "plain" (escaped text after a note), "code" (one code
# block, the whole message) or "markdown" (rendered, with the fragment given).
EXPECTED = {
    "unclosed ```x fences": "code",
    "tilde fences": "plain",
    "``` then ~~~ and ```x lines": "code",
    "closed fences": "plain",
    "a 26,000-row table": "plain",
    "emoji and emphasis": "plain",
    "short lines": "plain",
    "heading lines": "plain",
    "open brackets": "plain",
    "eight-column table": "plain",
    "ampersands": "plain",
    "blank lines": "<p>a</p>",
    "python code": "code",
    "a long review": "<strong>the change</strong>",
}
HANG_GUARD_S = 120  # a page of these messages renders in seconds; on 7e6a277 one of them took 101 s


def shown_text(html: str) -> str:
    """The text a browser shows in the fallback's <pre> (which drops one newline right after <pre>)."""
    pre = re.search(r"<pre>(.*)</pre>", html, re.DOTALL)
    assert pre is not None and "<" not in pre.group(1)
    return html_lib.unescape(pre.group(1)).removeprefix("\n")


def assert_shown_as_expected(name: str, text: str, html: str) -> None:
    assert_inert(html)
    expected = EXPECTED[name]
    if expected == "plain":
        assert html.startswith(f"<p><em>{PLAIN_TEXT_NOTE}: this message holds too much"), html[:200]
        assert shown_text(html) == text  # all of it, as typed
    elif expected == "code":
        assert html.startswith('<div class="highlight">') and html.count("<pre>") == 1
        assert PLAIN_TEXT_NOTE not in html
    else:
        assert expected in html and PLAIN_TEXT_NOTE not in html


@pytest.mark.parametrize("name", list(HOSTILE_SHAPES))
def test_every_hostile_shape_of_the_largest_size_renders_or_is_shown_as_text(name: str) -> None:
    assert set(EXPECTED) == set(HOSTILE_SHAPES)
    text = hostile_message(name)
    assert_shown_as_expected(name, text, Renderer().render(text))
    count("render.hostile_shapes_checked")


def test_the_channel_page_shows_every_hostile_shape(app: Flask, client: FlaskClient) -> None:
    relay = app.extensions["relay_web"].relay
    for name in HOSTILE_SHAPES:
        relay.post("hostile", hostile_message(name), "agent", source="cli")
    page = client.get("/channels/hostile")
    assert page.status_code == 200
    plain = [name for name, shown in EXPECTED.items() if shown == "plain"]
    assert page.get_data(as_text=True).count(PLAIN_TEXT_NOTE) == len(plain)
    updates = client.get("/ui/channels/hostile/updates?since_id=0").get_json()["messages"]
    assert len(updates) == len(HOSTILE_SHAPES)
    for name, message in zip(HOSTILE_SHAPES, updates, strict=True):
        body = app.extensions["relay_web"].renderer.render(hostile_message(name))  # the app's cached HTML
        assert body in message["html"]
        assert_shown_as_expected(name, hostile_message(name), body)


def test_an_unclosed_fence_runs_to_the_end_of_the_message_as_code() -> None:
    html = Renderer().render("Here is the fix:\n\n```python\ndef f(x):\n    return x\n")
    assert "<p>Here is the fix:</p>" in html and '<div class="highlight">' in html
    assert '<span class="k">def</span>' in html


def test_a_fence_is_closed_only_by_its_own_character_at_least_as_long() -> None:
    lines = ["````md", "```", "~~~~", "inside", "````", "after", "```a``` b", "~~~"]
    segments = split_fences(lines)
    assert [(s.code, s.language, s.lines) for s in segments] == [
        (False, None, []),
        (True, "md", ["```", "~~~~", "inside"]),
        (False, None, ["after", "```a``` b"]),  # a backtick in the info string: no fence
        (True, None, []),  # opened by "~~~" and never closed: code to the end
    ]


def test_the_dearest_messages_of_the_largest_size_are_cached() -> None:
    renderer = Renderer()
    for text in (filled("&&&&😀"), hostile_message("emoji and emphasis")):
        assert renderer.render(text) is renderer.render(text)


@settings(max_examples=40, deadline=None, database=None)
@given(generated_shapes())
def test_generated_messages_render_or_fall_back_and_are_always_inert(shape: tuple[str, str]) -> None:
    """A small version of scripts/bench_render.py's search: structure only, never time."""
    head, unit = shape
    text = filled(unit, 3000, head)
    budget_us = 10_000  # small, so that 3 KB messages take both ways
    html = Renderer(render_budget_us=budget_us).render(text)
    assert_inert(html)
    if measure(text).over_budget(budget_us) is not None:
        assert html.startswith(f"<p><em>{PLAIN_TEXT_NOTE}")
        assert shown_text(html) == text
        count("render.generated_shown_as_text")
    else:
        count("render.generated_rendered")


def test_healthz_answers_while_a_page_of_hostile_messages_renders(tmp_path: Path) -> None:
    """A real relay-web: the page's renders must leave the server free to answer other requests."""
    data_dir = tmp_path / "data"
    store = FileStore(data_dir)
    store.append("hostile", "agent", hostile_message("unclosed ```x fences"))
    for i in range(12):  # the dearest shape that is still rendered, each different so none is cached
        store.append("hostile", "agent", filled(unit=HOSTILE_SHAPES["a long review"][1], head=f"{i} "))
    with running_relay_web(tmp_path / "home", data_dir) as (base, _):
        page: dict[str, int] = {}

        def load_page() -> None:
            with urllib.request.urlopen(f"{base}/channels/hostile", timeout=HANG_GUARD_S) as response:
                page["status"] = response.status

        loader = threading.Thread(target=load_page)
        loader.start()
        answered_during_render = 0
        while loader.is_alive():
            with urllib.request.urlopen(f"{base}/healthz", timeout=HANG_GUARD_S / 4) as health:
                assert health.read() == b"ok"
            answered_during_render += loader.is_alive()
        loader.join()
    assert page == {"status": 200}
    assert answered_during_render >= 1
    count("render.healthz_answered_during_page_render", answered_during_render)
