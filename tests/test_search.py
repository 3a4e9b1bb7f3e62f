"""Search: the store's scan, the relay's rules, and the HTTP, CLI and MCP front ends over them."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from mcp import Client

from relay_stdio.cli import main
from relay_stdio.server import build_server
from shared.errors import InvalidInput, InvalidTarget
from shared.relay import Relay
from shared.search import QUERY_MAX_CHARS, SearchQuery
from shared.storage import MessageStore as Store
from shared.storage import open_store
from shared.storage.files.store import FileStore


@pytest.fixture(params=["files", "postgres"])
def search_store(request: pytest.FixtureRequest, data_dir: Path) -> Iterator[Store]:
    """Every store backend; each must answer these tests the same way."""
    where = str(data_dir) if request.param == "files" else str(request.getfixturevalue("pg_url"))
    store = open_store(where, lock_timeout_s=5.0)
    yield store
    store.close()


def texts(found: list[dict[str, Any]]) -> list[tuple[str, int, str]]:
    return [(m["target"], m["id"], m["text"]) for m in found]


def test_every_word_must_occur_case_insensitively_newest_first(search_store: Store) -> None:
    search_store.append("proj-x", "claude", "Review packet for the LOGIN limiter")
    search_store.append("proj-x", "codex", "verdict: approve the login change")
    search_store.append("proj-x", "codex", "unrelated chatter")
    search_store.append("proj-x", "alice", "the limiter key should include the login name")
    found = search_store.search("login limiter", "proj-x", 50, 5.0)
    assert texts(found) == [
        ("proj-x", 4, "the limiter key should include the login name"),
        ("proj-x", 1, "Review packet for the LOGIN limiter"),
    ]
    assert texts(search_store.search("revi", "proj-x", 50, 5.0)) == [
        ("proj-x", 1, "Review packet for the LOGIN limiter")
    ]  # inside a longer word
    assert [m["id"] for m in search_store.search("CODEX", "proj-x", 50, 5.0)] == [3, 2]  # the sender


def test_all_channels_are_merged_newest_first_and_the_limit_keeps_the_newest(search_store: Store) -> None:
    for i in range(5):
        search_store.append("alpha", "claude", f"deploy step {i}")
        search_store.append("beta", "codex", f"deploy check {i}")
        time.sleep(0.002)  # distinct times across channels
    found = search_store.search("deploy", None, 3, 5.0)
    assert texts(found) == [
        ("beta", 5, "deploy check 4"),
        ("alpha", 5, "deploy step 4"),
        ("beta", 4, "deploy check 3"),
    ]
    assert len(search_store.search("deploy", None, 50, 5.0)) == 10
    assert search_store.search("nowhere-to-be-found", None, 50, 5.0) == []
    assert search_store.search("deploy", "empty-channel", 50, 5.0) == []


def test_non_ascii_text_and_unicode_case_folding_match(search_store: Store) -> None:
    search_store.append("proj-x", "claude", "Die STRASSE ist gesperrt")
    search_store.append("proj-x", "claude", "Temperatur 300 \u212a (Kelvin sign)")  # folds to "k"
    search_store.append("proj-x", "codex", "日本語のレビュー: 承認")
    assert [m["id"] for m in search_store.search("straße", "proj-x", 50, 5.0)] == [1]
    search_store.append("proj-x", "alice", "Die Straße ist frei")  # and the other way round
    assert [m["id"] for m in search_store.search("STRASSE", "proj-x", 50, 5.0)] == [4, 1]
    assert [m["id"] for m in search_store.search("frei", "proj-x", 50, 5.0)] == [4]
    assert [m["id"] for m in search_store.search("300 k", "proj-x", 50, 5.0)] == [2]
    assert [m["id"] for m in search_store.search("承認", "proj-x", 50, 5.0)] == [3]


def test_words_with_characters_json_escapes_are_found(search_store: Store) -> None:
    search_store.append("proj-x", "claude", 'the "quoted" path C:\\temp\\x\nsecond line')
    search_store.append("proj-x", "claude", "quoted without quotes")
    assert [m["id"] for m in search_store.search('"quoted"', "proj-x", 50, 5.0)] == [1]
    assert [m["id"] for m in search_store.search("c:\\temp", "proj-x", 50, 5.0)] == [1]


def test_hand_edited_and_torn_lines_are_skipped_never_served(data_dir: Path) -> None:
    store = FileStore(data_dir)
    store.append("proj-x", "claude", "needle one")
    path = store.channel_path("proj-x")
    with path.open("a", encoding="utf-8") as handle:
        handle.write('{"id": 2, "text": "needle without the other fields"}\n')
        handle.write("not json needle\n")
        handle.write('{"id": 3, "ts": 1.0, "target": "proj-x", "sender": "x", "text": "needle torn')
    assert texts(store.search("needle", "proj-x", 50, 5.0)) == [("proj-x", 1, "needle one")]
    assert path.read_text(encoding="utf-8").count("\n") == 3  # a search never writes


def test_a_search_out_of_time_returns_what_it_found_marked_incomplete(data_dir: Path) -> None:
    store = FileStore(data_dir)
    store.append("proj-x", "claude", "old needle")
    for i in range(600):
        store.append("proj-x", "claude", f"filler {i}")
    store.append("proj-x", "claude", "new needle")
    found = store.search("needle", "proj-x", 50, 0.0)
    assert texts(found) == [("proj-x", 602, "new needle")]
    assert found.complete is False
    whole = store.search("needle", "proj-x", 50, 5.0)
    assert [m["id"] for m in whole] == [602, 1] and whole.complete is True


def test_the_relay_checks_the_query_limit_and_target(relay: Relay) -> None:
    relay.post("proj-x", "a needle", "claude", source="api")
    result = relay.search("  needle  ", target="PROJ-X", limit=500)
    assert (result["query"], result["target"], result["complete"]) == ("needle", "proj-x", True)
    assert [m["text"] for m in result["messages"]] == ["a needle"]
    for bad, rule in (("", "query is required"), ("   ", "query is required"), (None, "query is required")):
        with pytest.raises(InvalidInput, match=rule):
            relay.search(bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match=f"at most {QUERY_MAX_CHARS}"):
        relay.search("x" * (QUERY_MAX_CHARS + 1))
    with pytest.raises(InvalidTarget, match="channel name is 1 to 64"):
        relay.search("needle", target="../etc")
    with pytest.raises(InvalidInput, match="limit must be a whole number from 1 to 200"):
        relay.search("needle", limit="5")


def test_a_search_does_not_move_read_positions(relay: Relay) -> None:
    relay.post("proj-x", "needle", "claude", source="api")
    relay.search("needle")
    assert relay.store.get_position("codex", "proj-x") == 0
    assert relay.fetch("proj-x", identity="codex")["messages"][0]["text"] == "needle"


def test_lines_another_tool_wrote_with_unicode_escapes_are_found(data_dir: Path) -> None:
    store = FileStore(data_dir)
    store.append("proj-x", "claude", "first")
    record = {
        "id": 2,
        "ts": 2.0,
        "target": "proj-x",
        "sender": "tool",
        "text": "\u00dcberpr\u00fcfung 300\u212a",
    }
    with store.channel_path("proj-x").open("a", encoding="ascii") as handle:
        handle.write(json.dumps(record, ensure_ascii=True) + "\n")  # every non-ASCII character escaped
    assert [m["id"] for m in store.search("überprüfung", "proj-x", 50, 5.0)] == [2]
    assert [m["id"] for m in store.search("300k", "proj-x", 50, 5.0)] == [2]


def test_query_pre_check_never_drops_a_line_that_matches() -> None:
    query = SearchQuery.parse("Kelvin 300k")
    line = '{"id": 1, "ts": 1.0, "target": "t", "sender": "s", "text": "kelvin 300\u212a"}'.encode()
    assert query.may_match(line)  # not ASCII: left to the full check
    assert query.matches(json.loads(line))
    assert not query.may_match(b'{"id": 1, "text": "kelvin only"}')


# --- front ends ------------------------------------------------------------------------------------


def test_http_search_answers_json_and_explains_bad_input(client, relay: Relay) -> None:  # type: ignore[no-untyped-def]
    client.post("/api/messages", json={"target": "proj-x", "sender": "claude", "text": "needle here"})
    client.post("/api/messages", json={"target": "other", "sender": "codex", "text": "Needle there"})
    answer = client.get("/api/search?q=needle")
    assert answer.status_code == 200
    body = answer.get_json()
    assert [(m["target"], m["text"]) for m in body["messages"]] == [
        ("other", "Needle there"),
        ("proj-x", "needle here"),
    ]
    assert (body["query"], body["target"], body["complete"]) == ("needle", None, True)
    only = client.get("/api/search?q=needle&target=proj-x&limit=5").get_json()
    assert [m["text"] for m in only["messages"]] == ["needle here"]
    missing = client.get("/api/search")
    assert missing.status_code == 400 and "query is required" in missing.get_json()["error"]
    assert client.get("/api/search?q=x&limit=abc").status_code == 400
    bad_target = client.get("/api/search?q=x&target=a/b")
    assert bad_target.status_code == 400 and "channel name" in bad_target.get_json()["error"]


@pytest.fixture
def runner(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("CLAUDE_CODEX_DATA_DIR", str(data_dir))
    return CliRunner()


def test_relay_search_prints_matches_newest_first_with_their_channel(
    runner: CliRunner, data_dir: Path
) -> None:
    store = FileStore(data_dir)
    store.append("proj-x", "claude", "first needle")
    store.append("codex", "claude", "second needle")
    store.append("proj-x", "codex", "no match")
    result = runner.invoke(main, ["search", "NEEDLE"])
    assert result.exit_code == 0, result.output
    assert result.output.index("codex #1 [claude]") < result.output.index("proj-x #1 [claude]")
    assert "no match" not in result.output
    result = runner.invoke(main, ["search", "needle", "--target", "proj-x", "--json"])
    assert [json.loads(line)["text"] for line in result.output.splitlines() if line] == ["first needle"]
    result = runner.invoke(main, ["search", "absent"])
    assert result.exit_code == 0 and "no message in any channel holds every word of 'absent'" in result.output
    result = runner.invoke(main, ["search", " "])
    assert result.exit_code == 1 and "query is required" in result.output


@pytest.mark.anyio
async def test_search_messages_tool_returns_structured_matches(relay: Relay) -> None:
    relay.post("proj-x", "the needle in the diff", "claude", source="mcp")
    relay.post("proj-x", "hay", "claude", source="mcp")
    async with Client(build_server(relay, identity="codex"), raise_exceptions=True) as client:
        result = await client.call_tool("search_messages", {"query": "Needle", "target": "proj-x"})
        assert not result.is_error and result.structured_content is not None
        assert [m["id"] for m in result.structured_content["messages"]] == [1]
        assert result.structured_content["complete"] is True
        refused = await client.call_tool("search_messages", {"query": "  "})
        assert refused.is_error
        assert "query is required" in refused.content[0].text  # type: ignore[union-attr]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
