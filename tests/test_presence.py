"""Read receipts and presence: saved read positions, last posts, and waits in progress."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from shared.errors import InvalidTarget
from shared.relay import Relay
from shared.waiting import wait_for_messages_sync


def members(relay: Relay, target: str = "proj-x") -> dict[str, dict[str, Any]]:
    return {m["identity"]: m for m in relay.presence(target)["members"]}


def eventually(check: Any, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_read_positions_and_last_posts_per_identity(relay: Relay) -> None:
    relay.post("proj-x", "packet", "Claude", source="mcp")
    relay.post("proj-x", "verdict", "codex", source="mcp")
    relay.post("proj-x", "thanks", "Claude", source="mcp")
    relay.fetch("proj-x", identity="codex", limit=2)  # codex has read #1 and #2
    relay.fetch("proj-x", identity="alice")  # a person who only reads
    seen = members(relay)
    assert set(seen) == {"Claude", "codex", "alice"}
    assert (seen["Claude"]["last_post_id"], seen["Claude"]["read_id"]) == (3, 0)
    assert (seen["codex"]["last_post_id"], seen["codex"]["read_id"]) == (2, 2)
    assert (seen["alice"]["last_post_id"], seen["alice"]["read_id"]) == (None, 3)
    assert all(m["waiting_since"] is None for m in seen.values())
    assert [m["identity"] for m in relay.presence("proj-x")["members"]][:2] == ["Claude", "codex"]
    assert relay.presence("PROJ-X")["latest_id"] == 3
    with pytest.raises(InvalidTarget):
        relay.presence("../x")


def test_identities_with_odd_characters_are_shown_by_their_read_positions(relay: Relay) -> None:
    relay.post("proj-x", "one", "claude", source="mcp")
    for identity in ("Ada Lovelace", "über-bot", "a/b%c"):
        relay.fetch("proj-x", identity=identity)
    relay.fetch("other", since_id=0, identity="codex")
    seen = members(relay)
    for name in ("ada lovelace", "über-bot", "a/b%c"):
        assert seen[name]["read_id"] == 1, name
    assert "codex" not in seen  # it read another channel only


def test_a_wait_shows_as_waiting_now_until_it_ends(relay: Relay) -> None:
    relay.post("proj-x", "packet", "claude", source="mcp")
    result: dict[str, Any] = {}

    def wait() -> None:
        result.update(wait_for_messages_sync(relay, "proj-x", identity="claude", since_id=1, timeout_s=30))

    waiter = threading.Thread(target=wait)
    waiter.start()
    eventually(lambda: members(relay).get("claude", {}).get("waiting_since") is not None)
    assert members(relay)["claude"]["waiting_since"] <= time.time()
    relay.post("proj-x", "verdict", "codex", source="mcp")
    waiter.join(30)
    assert [m["text"] for m in result["messages"]] == ["verdict"]
    assert members(relay)["claude"]["waiting_since"] is None
    assert list((relay.config.data_dir / "presence").iterdir()) == []


def test_a_wait_killed_mid_way_is_not_shown_and_its_file_is_removed(relay: Relay, data_dir: Path) -> None:
    code = (
        "import sys; from shared.config import resolve_config; from shared.relay import Relay; "
        "from shared.waiting import wait_for_messages_sync; "
        "relay = Relay(resolve_config({'data_dir': sys.argv[1]}, env={})); "
        "wait_for_messages_sync(relay, 'proj-x', identity='codex', since_id=0, timeout_s=60)"
    )
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root)}
    child = subprocess.Popen([sys.executable, "-c", code, str(data_dir)], env=env)
    try:
        eventually(lambda: members(relay).get("codex", {}).get("waiting_since") is not None, 30)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    assert len(list((data_dir / "presence").iterdir())) == 1  # left behind by the killed process
    assert "codex" not in members(relay)
    assert list((data_dir / "presence").iterdir()) == []


def test_http_presence_answers_json(client) -> None:  # type: ignore[no-untyped-def]
    client.post("/api/messages", json={"target": "proj-x", "sender": "claude", "text": "hi"})
    body = client.get("/api/presence?target=proj-x").get_json()
    assert body["target"] == "proj-x" and body["latest_id"] == 1
    assert body["members"] == [
        {"identity": "claude", "last_post_id": 1, "last_post_ts": body["members"][0]["last_post_ts"],
         "read_id": 0, "waiting_since": None}
    ]  # fmt: skip
    refused = client.get("/api/presence?target=a/b")
    assert refused.status_code == 400 and "channel name" in refused.get_json()["error"]
