"""Bad arguments, as each front end receives them: the reason reaches the caller and nothing is stored.

The MCP cases run through the real server and the SDK's in-memory client, and check the text the model
reads; the client re-raises any exception the server did not turn into a tool error on purpose.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from mcp import Client

from relay_stdio.cli import main
from relay_stdio.server import build_server
from shared import waiting
from shared.errors import InvalidInput
from shared.models import MAX_ID
from shared.relay import Relay

pytestmark = pytest.mark.anyio
HANG_GUARD_S = 30
ID_RULE = f"at most {MAX_ID}"

# (tool, arguments, phrases the model must read)
BAD_CALLS: list[tuple[str, dict[str, Any], list[str]]] = [
    (
        "post_message",
        {"target": "t", "text": "x", "reply_to": True},
        ["reply_to must be a whole number >= 1"],
    ),
    ("post_message", {"target": "t", "text": "x", "reply_to": 10**30}, ["reply_to", ID_RULE]),
    ("post_message", {"target": "t", "text": "x", "reply_to": MAX_ID + 1}, ["reply_to", ID_RULE]),
    ("post_message", {"target": "t", "text": "x", "reply_to": 0}, ["reply_to must be a whole number >= 1"]),
    ("post_message", {"target": "t", "text": "x", "reply_to": "3"}, ["reply_to", "without quotes"]),
    ("post_message", {"target": "t", "text": "x", "reply_to": 2.5}, ["reply_to must be a whole number"]),
    ("post_message", {"target": "../t", "text": "x"}, ["invalid target", "letters, digits"]),
    ("post_message", {"target": "t", "text": " "}, ["text is required"]),
    ("post_message", {"target": "t", "text": "x", "sender": "a\x00"}, ["sender contains the control"]),
    ("fetch_messages", {"target": "t", "limit": "5"}, ["limit must be a whole number from 1 to 200"]),
    ("fetch_messages", {"target": "t", "limit": True}, ["limit must be a whole number from 1 to 200"]),
    ("fetch_messages", {"target": "t", "since_id": "5"}, ["since_id", "without quotes"]),
    ("fetch_messages", {"target": "t", "since_id": True}, ["since_id must be a whole number >= 0"]),
    ("fetch_messages", {"target": "t", "since_id": 10**30}, ["since_id", ID_RULE]),
    ("fetch_messages", {"target": "t", "since_id": -1}, ["since_id must be a whole number >= 0"]),
    ("wait_for_messages", {"target": "t", "timeout_s": "0"}, ["timeout_s", "valid number"]),
    ("wait_for_messages", {"target": "t", "timeout_s": True}, ["timeout_s", "valid number"]),
    ("wait_for_messages", {"target": "t", "timeout_s": -1}, ["timeout_s", "greater than or equal to 0"]),
    ("wait_for_messages", {"target": "t", "limit": "3"}, ["limit must be a whole number from 1 to 200"]),
    ("wait_for_messages", {"target": "t", "since_id": "1"}, ["since_id", "without quotes"]),
    ("wait_for_messages", {"target": "t", "since_id": 10**30}, ["since_id", ID_RULE]),
    ("wait_for_messages", {"target": "t", "from_sender": "Claude"}, ["from_sender 'Claude' is your own"]),
    ("wait_for_messages", {"target": "t", "from_sender": " "}, ["sender is required"]),
    ("wait_for_messages", {"target": "t/../u"}, ["invalid target"]),
]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def stored(data_dir: Path) -> list[dict[str, Any]]:
    path = data_dir / "channels" / "t.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.parametrize(("tool", "arguments", "expected"), BAD_CALLS)
async def test_each_bad_mcp_argument_reaches_the_model_with_its_reason(
    relay: Relay, data_dir: Path, tool: str, arguments: dict[str, Any], expected: list[str]
) -> None:
    relay.post("t", "already here", "codex", source="cli")
    async with Client(build_server(relay, identity="claude"), raise_exceptions=True) as client:
        with anyio.fail_after(HANG_GUARD_S):
            result = await client.call_tool(
                tool, {"timeout_s": 0, **arguments} if "wait" in tool else arguments
            )
    text = "".join(getattr(block, "text", "") for block in result.content)
    assert result.is_error, result.structured_content
    for phrase in expected:
        assert phrase in text, text
    assert [(r["id"], r["text"]) for r in stored(data_dir)] == [(1, "already here")]
    assert relay.store.get_position("claude", "t") == 0


async def test_good_numbers_are_still_taken_as_json_writes_them(relay: Relay, data_dir: Path) -> None:
    relay.post("t", "first", "codex", source="cli")
    async with Client(build_server(relay, identity="claude"), raise_exceptions=True) as client:
        posted = await client.call_tool("post_message", {"target": "t", "text": "re", "reply_to": 1.0})
        fetched = await client.call_tool("fetch_messages", {"target": "t", "since_id": 0.0, "limit": 5.0})
        waited = await client.call_tool("wait_for_messages", {"target": "t", "since_id": 0, "timeout_s": 0})
    assert not posted.is_error and stored(data_dir)[1]["reply_to"] == 1
    assert fetched.structured_content is not None and len(fetched.structured_content["messages"]) == 2
    assert waited.structured_content is not None
    assert [m["text"] for m in waited.structured_content["messages"]] == ["first"]


def test_reading_from_a_saved_position_without_an_identity_is_an_input_error(relay: Relay) -> None:
    with pytest.raises(InvalidInput, match="give since_id"):
        relay.fetch("t")
    with pytest.raises(InvalidInput, match="give since_id"):
        waiting.wait_for_messages_sync(relay, "t", identity=None, timeout_s=0)
    with pytest.raises(InvalidInput, match="source must be one of"):
        relay.post("t", "x", "a", source="carrier pigeon")


def test_waiting_on_yourself_is_refused_by_the_hooks_and_the_cli_rules_too(relay: Relay) -> None:
    with pytest.raises(InvalidInput, match="is your own identity"):
        waiting.wait_for_messages_sync(relay, "t", identity="codex", from_sender="CODEX ", timeout_s=0)
    with pytest.raises(InvalidInput, match="is your own identity"):
        waiting.message_filter("codex", "codex")


@pytest.mark.parametrize(
    ("body_extra", "phrase"),
    [
        ({"reply_to": 10**30}, ID_RULE),
        ({"reply_to": MAX_ID + 1}, ID_RULE),
        ({"reply_to": True}, "reply_to must be a whole number >= 1"),
        ({"reply_to": 0}, "reply_to must be a whole number >= 1"),
    ],
)
def test_http_ids_follow_the_same_rule(
    client: FlaskClient, data_dir: Path, body_extra: dict[str, Any], phrase: str
) -> None:
    body = {"target": "t", "sender": "ada", "text": "hi", **body_extra}
    response = client.post("/api/messages", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 400 and phrase in response.get_json()["error"]
    query = client.get(f"/api/messages?target=t&since_id={10**30}")
    assert query.status_code == 400 and ID_RULE in query.get_json()["error"]
    assert stored(data_dir) == []


@pytest.fixture
def runner(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("CLAUDE_CODEX_DATA_DIR", str(data_dir))
    return CliRunner()


def test_cli_ids_follow_the_same_bound(runner: CliRunner, data_dir: Path) -> None:
    result = runner.invoke(main, ["post", "t", "hi", "--reply-to", str(MAX_ID + 1)])
    assert result.exit_code == 2 and f"1<=x<={MAX_ID}" in result.output
    result = runner.invoke(main, ["tail", "t", "--since", str(10**30)])
    assert result.exit_code == 2 and f"0<=x<={MAX_ID}" in result.output
    assert stored(data_dir) == []


def test_stdin_that_is_not_utf8_is_refused_with_the_byte_and_its_offset(
    runner: CliRunner, data_dir: Path
) -> None:
    result = runner.invoke(main, ["post", "t", "-"], input=b"caf\xc3\xa9 \xff ok")
    assert result.exit_code == 1
    assert "not valid UTF-8: byte 0xff at offset 6" in result.output and "--replace-invalid" in result.output
    assert stored(data_dir) == []
    result = runner.invoke(main, ["post", "t", "-", "--replace-invalid"], input=b"caf\xc3\xa9 \xff ok")
    assert result.exit_code == 0, result.output
    assert [r["text"] for r in stored(data_dir)] == ["café \ufffd ok"]
