"""The viewer's pages and the JSON they poll, through Flask's test client."""

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from shared.relay import Relay


@pytest.fixture
def relay(app: Flask) -> Relay:  # the app's own relay, on the test's data dir
    return app.extensions["relay_web"].relay  # type: ignore[no-any-return]


def ids_in(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'<article class="msg[^"]*" id="m-(\d+)"', html)]


def test_index_lists_every_channel_with_count_last_sender_and_activity(
    client: FlaskClient, relay: Relay
) -> None:
    relay.post("review", "one", "claude", source="mcp")
    relay.post("review", "two", "codex", source="mcp")
    html = client.get("/").get_data(as_text=True)
    row = re.search(r'<tr data-target="review">(.*?)</tr>', html, re.S)
    assert row is not None
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)
    assert '<a href="/channels/review">review</a>' in cells[0]
    assert cells[1].strip() == "2" and cells[2].strip() == "codex"
    assert re.search(r'data-ts="\d+\.\d+"', cells[3])
    for seed in ("claude", "codex", "proj-x"):
        assert f'<tr data-target="{seed}">' in html


def test_footer_shows_the_data_dir(client: FlaskClient, app: Flask) -> None:
    data_dir = str(app.extensions["relay_web"].config.data_dir)
    for path in ("/", "/channels/proj-x", "/nope"):
        assert f'<code id="data-dir">{data_dir}</code>' in client.get(path).get_data(as_text=True)


def test_channel_page_shows_the_latest_page_oldest_first(client: FlaskClient, relay: Relay) -> None:
    for i in range(1, 131):
        relay.post("proj-x", f"message number {i}", "claude" if i % 2 else "codex", source="mcp")
    html = client.get("/channels/proj-x").get_data(as_text=True)
    assert ids_in(html) == list(range(81, 131))
    assert 'data-latest-id="130"' in html
    assert re.search(r'<button type="button" id="load-older">', html)  # not hidden: older ones exist
    first = html.split('id="m-81"', 1)[1].split("</article>", 1)[0]
    assert '<span class="msg-sender">claude</span>' in first
    assert "<p>message number 81</p>" in first
    assert re.search(r'<time class="msg-time" datetime="\d{4}-\d\d-\d\dT[\d:.]+Z"', first)
    assert re.search(r'<span class="abs">\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC</span>', first)
    badge = r'<span class="msg-source" data-source="mcp" title="Posted through [^"]*">via mcp</span>'
    assert re.search(badge, first)


def test_a_small_channel_has_no_load_older_button(client: FlaskClient, relay: Relay) -> None:
    relay.post("proj-x", "only", "a", source="cli")
    html = client.get("/channels/proj-x").get_data(as_text=True)
    assert '<button type="button" id="load-older" hidden>' in html and ids_in(html) == [1]


def test_an_empty_channel_invites_the_first_post(client: FlaskClient) -> None:
    html = client.get("/channels/brand-new").get_data(as_text=True)
    assert ids_in(html) == [] and "Post the first one below" in html
    assert 'data-latest-id="0"' in html and 'value="brand-new"' in html


def test_channel_names_are_canonical_and_invalid_ones_are_404(client: FlaskClient) -> None:
    response = client.get("/channels/Proj-X")
    assert response.status_code == 308 and response.headers["Location"] == "/channels/proj-x"
    missing = client.get("/channels/-bad")
    assert missing.status_code == 404 and missing.mimetype == "text/html"
    assert "letters, digits" in missing.get_data(as_text=True)
    assert client.get("/channels/" + "x" * 65).status_code == 404
    assert client.get("/nope").status_code == 404


def test_updates_return_rendered_messages_after_since_id(client: FlaskClient, relay: Relay) -> None:
    for i in range(1, 6):
        relay.post("t", f"**m{i}**", "a", source="cli")
    body = client.get("/ui/channels/t/updates?since_id=3").get_json()
    assert [m["id"] for m in body["messages"]] == [4, 5]
    assert "<strong>m4</strong>" in body["messages"][0]["html"]
    assert body["messages"][0]["html"].startswith('<article class="msg')
    assert body["latest_id"] == 5 and body["has_more"] is False
    idle = client.get("/ui/channels/t/updates?since_id=5").get_json()
    assert idle == {
        "messages": [],
        "latest_id": 5,
        "has_more": False,
        "loop_guard": {"paused": False, "run": 0, "limit": 12},  # posts from relay post are a person's
    }


def test_older_returns_the_page_before_before_id(client: FlaskClient, relay: Relay) -> None:
    for i in range(1, 121):
        relay.post("t", f"m{i}", "a", source="cli")
    body = client.get("/ui/channels/t/older?before_id=71").get_json()
    assert [m["id"] for m in body["messages"]] == list(range(21, 71)) and body["has_more"] is True
    last = client.get("/ui/channels/t/older?before_id=21").get_json()
    assert [m["id"] for m in last["messages"]] == list(range(1, 21)) and last["has_more"] is False


@pytest.mark.parametrize(
    ("path", "fragment"),
    [
        ("/ui/channels/t/older", "before_id is required"),
        ("/ui/channels/t/older?before_id=x", "before_id"),
        ("/ui/channels/t/updates?since_id=-4", "since_id"),
        ("/ui/channels/t%2Fx/updates?since_id=0", "no such page"),
    ],
)
def test_page_data_errors_are_json(client: FlaskClient, path: str, fragment: str) -> None:
    response = client.get(path)
    assert response.status_code in (400, 404)
    assert fragment in response.get_json()["error"]


def test_replies_are_linked_and_records_breaking_the_rules_are_skipped(
    client: FlaskClient, relay: Relay, data_dir
) -> None:  # type: ignore[no-untyped-def]
    relay.post("t", "question", "a", source="cli")
    relay.post("t", "answer", "b", source="mcp", reply_to=1)
    with (data_dir / "channels" / "t.jsonl").open("a") as handle:
        handle.write('{"id": 3, "text": {"odd": true}, "ts": "yesterday"}\n')  # a hand edit: not a record
    relay.post("t", "after the hand edit", "c", source="cli")
    html = client.get("/channels/t").get_data(as_text=True)
    assert '<a class="msg-reply" href="#m-1"' in html
    assert ids_in(html) == [1, 2, 3]
    assert "after the hand edit" in html and "odd" not in html


def test_composer_knows_the_channels_and_the_default_sender(make_app) -> None:  # type: ignore[no-untyped-def]
    client = make_app(sender="alice").test_client()
    html = client.get("/channels/proj-x").get_data(as_text=True)
    assert 'id="c-sender" name="sender" value="alice"' in html
    assert '<option value="proj-x">' in html and '<option value="codex">' in html


def test_assets_are_served_by_the_app_itself(client: FlaskClient) -> None:
    html = client.get("/").get_data(as_text=True)
    for url in re.findall(r'(?:href|src)="([^"]+\.(?:css|js|svg))"', html):
        assert url.startswith("/"), url  # nothing from a CDN
        with client.get(url) as response:
            assert response.status_code == 200
    css = client.get("/assets/pygments.css")
    assert css.mimetype == "text/css"
    text = css.get_data(as_text=True)
    assert ".highlight .gd" in text and ":root[data-theme=dark] .highlight" in text
    assert "prefers-color-scheme: dark" in text


def test_empty_seed_channels_come_after_channels_with_messages(client: FlaskClient, relay: Relay) -> None:
    relay.post("zeta", "hello", "claude", source="api")
    html = client.get("/").get_data(as_text=True)
    order = re.findall(r'<tr data-target="([^"]+)"', html)
    assert order == ["zeta", "claude", "codex", "proj-x"]
    polled = client.get("/ui/channels").get_json()
    assert [d["target"] for d in polled["details"]] == order
    assert polled["channels"] == ["claude", "codex", "proj-x", "zeta"]  # the API keeps its sorted list


def test_the_search_page_lists_matches_linked_to_their_channel(client: FlaskClient, relay: Relay) -> None:
    relay.post("proj-x", "the login limiter", "claude", source="api")
    relay.post("other", "LOGIN again", "codex", source="api")
    relay.post("other", "nothing here", "codex", source="api")
    html = client.get("/search?q=login").get_data(as_text=True)
    assert "2 messages holding every word of <strong>login</strong>" in html
    assert html.index('href="/channels/other#m-1"') < html.index('href="/channels/proj-x#m-1"')
    assert "nothing here" not in html
    one = client.get("/search?q=login&target=proj-x").get_data(as_text=True)
    assert "1 message holding" in one and "LOGIN again" not in one
    assert "holding every word" not in client.get("/search").get_data(as_text=True)
    blank = client.get("/search?q=x&target=a/b")
    assert blank.status_code == 400 and "channel name" in blank.get_data(as_text=True)


def test_the_footer_api_link_opens_a_readable_page_of_every_endpoint(client: FlaskClient) -> None:
    home = client.get("/").get_data(as_text=True)
    assert '<a href="/api">API</a>' in home
    page = client.get("/api")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    spec = client.get("/openapi.json").get_json()
    for path, methods in spec["paths"].items():
        for method in methods:
            assert f"<code>{method.upper()} {path}</code>" in html
    assert "<code>q</code>" in html and "<code>reply_to</code>" in html


def test_the_composer_states_the_channel_rule(client: FlaskClient) -> None:
    html = client.get("/channels/proj-x").get_data(as_text=True)
    assert 'title="A channel name is 1 to 64 characters of letters, digits' in html
