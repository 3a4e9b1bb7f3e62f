import json
from pathlib import Path

import pytest

from shared.config import resolve_config
from shared.errors import InvalidInput
from shared.logs import flush_logs, setup_logging
from shared.relay import Relay


def test_fetch_without_since_id_reads_from_the_saved_position(relay: Relay) -> None:
    for i in range(1, 6):
        relay.post("proj-x", f"m{i}", "claude", source="mcp")
    first = relay.fetch("proj-x", limit=3, identity="codex")
    assert [m["id"] for m in first["messages"]] == [1, 2, 3]
    assert first["latest_id"] == 3 and first["has_more"] is True
    second = relay.fetch("proj-x", identity="codex")
    assert [m["id"] for m in second["messages"]] == [4, 5] and second["has_more"] is False
    third = relay.fetch("proj-x", identity="codex")
    assert third["messages"] == [] and third["latest_id"] == 5
    # Another identity has its own position; an explicit since_id neither uses nor moves it.
    assert [m["id"] for m in relay.fetch("proj-x", since_id=4, identity="claude")["messages"]] == [5]
    assert len(relay.fetch("proj-x", identity="claude")["messages"]) == 5


def test_fetch_after_the_channel_was_replaced_starts_again(relay: Relay) -> None:
    relay.post("t", "old", "a", source="cli")
    relay.post("t", "old2", "a", source="cli")
    relay.fetch("t", identity="me")
    relay.store.channel_path("t").unlink()  # type: ignore[attr-defined]
    relay.post("t", "new", "a", source="cli")
    assert [m["text"] for m in relay.fetch("t", identity="me")["messages"]] == ["new"]


def test_fetch_limit_is_clamped_not_refused(relay: Relay) -> None:
    for i in range(3):
        relay.post("t", f"m{i}", "a", source="cli")
    assert len(relay.fetch("t", since_id=0, limit=0)["messages"]) == 1
    assert len(relay.fetch("t", since_id=0, limit=10_000)["messages"]) == 3
    with pytest.raises(InvalidInput):
        relay.fetch("t", since_id=-1)


def test_channels_lists_seeds_and_active_channels_sorted(relay: Relay) -> None:
    relay.post("zeta", "hi", "a", source="cli")
    listing = relay.channels()
    assert listing["channels"] == ["claude", "codex", "proj-x", "zeta"]
    zeta = listing["details"][-1]
    assert zeta["count"] == 1 and zeta["last_sender"] == "a"


def test_posts_and_fetches_are_logged_and_archived(tmp_path: Path) -> None:
    config = resolve_config({"data_dir": str(tmp_path / "d")}, env={})
    setup_logging(config)
    relay = Relay(config)
    record = relay.post("proj-x", "hello", "claude", source="mcp")
    relay.fetch("proj-x", since_id=0)
    flush_logs()
    tools = config.log_path.read_text()
    assert (
        'post_message {"id": 1, "target": "proj-x", "sender": "claude", "text_len": 5, "source": "mcp"}'
        in tools
    )
    assert '"returned": 1' in tools
    archived = [json.loads(line) for line in config.channel_log_path.read_text().splitlines()]
    assert archived == [record]


def test_after_and_before_page_both_ways_with_clamped_limits(relay: Relay) -> None:
    for i in range(1, 8):
        relay.post("t", f"m{i}", "a", source="cli")
    assert [m["id"] for m in relay.after("t", 2, 3, 500)[0]] == [3, 4, 5]
    assert relay.after("t", 2, 3, 500)[1] is True
    assert [m["id"] for m in relay.after("t", 0, 10_000, 500)[0]] == list(range(1, 8))
    older, has_more = relay.before("T", 5, 2, 500)
    assert [m["text"] for m in older] == ["m3", "m4"] and has_more
    assert [m["id"] for m in relay.before("t", 5, 0, 500)[0]] == [4]
    with pytest.raises(InvalidInput):
        relay.before("t", -1, 5, 500)
    with pytest.raises(InvalidInput):
        relay.after("t", "x", 5, 500)


def test_latest_says_whether_older_messages_exist(relay: Relay) -> None:
    assert relay.latest("t", 5, 500) == ([], False)
    for i in range(1, 5):
        relay.post("t", f"m{i}", "a", source="cli")
    messages, has_older = relay.latest("t", 3, 500)
    assert [m["id"] for m in messages] == [2, 3, 4] and has_older
    assert relay.latest("t", 4, 500)[1] is False


def test_small_fetch_tells_a_page_of_large_messages_from_a_small_one(relay: Relay) -> None:
    assert relay.small_fetch("empty", 200)
    for i in range(300):
        relay.post("chat", f"short message {i}", "a", source="cli")
    assert relay.small_fetch("chat", 200)  # 200 lines of ~120 bytes
    for _ in range(6):
        relay.post("big", "x" * 100_000, "a", source="cli")
    assert relay.small_fetch("big", 2)  # ~200 KB
    assert not relay.small_fetch("big", 3) and not relay.small_fetch("big", None)  # ~300 KB; default 50
