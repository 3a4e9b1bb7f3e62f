"""The loop guard on a real store: runs of agent messages, a person's message, the paused status."""

from __future__ import annotations

from pathlib import Path

import pytest

from relay_stdio.automation.hooks import HookOptions, stop_answer
from shared.config import resolve_config
from shared.loopguard import LoopGuard, agent_run, is_person
from shared.relay import Relay


def post(relay: Relay, sender: str, source: str = "mcp") -> int:
    return relay.post("proj-x", f"from {sender}", sender, source=source)["id"]


@pytest.mark.parametrize(
    ("source", "person"), [("web-ui", True), ("cli", True), ("mcp", False), ("api", False)]
)
def test_a_person_is_who_posted_from_the_viewer_or_relay_post(source: str, person: bool) -> None:
    assert is_person({"id": 1, "source": source, "sender": "claude"}) is person
    assert is_person({"id": 1, "sender": "dana"}) is False  # written into the file by hand


def test_agents_answering_each_other_pause_the_channel_at_the_limit(relay: Relay) -> None:
    guard = LoopGuard(4)
    ids = [post(relay, "claude" if n % 2 else "codex") for n in range(6)]
    allowed = [
        guard.allows(relay.store, "proj-x", relay.store.read_since("proj-x", i - 1, 1)[0][0]) for i in ids
    ]
    assert allowed == [True, True, True, False, False, False]
    assert guard.status(relay.store, "proj-x") == {"paused": True, "run": 4, "limit": 4}


def test_a_persons_message_resumes_the_channel_and_wakes_agents(relay: Relay) -> None:
    guard = LoopGuard(3)
    for _ in range(5):
        post(relay, "codex")
    assert guard.status(relay.store, "proj-x")["paused"] is True
    person = post(relay, "dana", source="web-ui")
    record = relay.store.read_since("proj-x", person - 1, 1)[0][0]
    assert guard.allows(relay.store, "proj-x", record) is True
    assert guard.status(relay.store, "proj-x") == {"paused": False, "run": 0, "limit": 3}
    after = post(relay, "claude")
    assert agent_run(relay.store, "proj-x", after, 3) == 1
    assert guard.allows(relay.store, "proj-x", relay.store.read_since("proj-x", after - 1, 1)[0][0])


def test_a_limit_of_zero_turns_the_guard_off(relay: Relay) -> None:
    for _ in range(30):
        post(relay, "codex")
    guard = LoopGuard(0)
    last = relay.store.read_last("proj-x", 1)[0]
    assert guard.allows(relay.store, "proj-x", last) is True
    assert guard.status(relay.store, "proj-x")["paused"] is False


def test_the_run_is_counted_across_pages_and_stops_at_enough(relay: Relay) -> None:
    post(relay, "dana", source="cli")
    for _ in range(40):
        post(relay, "codex")
    assert agent_run(relay.store, "proj-x", 41, 100) == 40
    assert agent_run(relay.store, "proj-x", 41, 12) == 12
    assert agent_run(relay.store, "proj-x", 1, 12) == 0


def test_the_stop_hook_does_not_continue_a_session_on_a_paused_channel(data_dir: Path) -> None:
    relay = Relay(resolve_config({"data_dir": str(data_dir), "loop_guard": 3}, env={}))
    options = HookOptions(target="proj-x", identity="claude", from_sender="codex")
    for _ in range(3):
        post(relay, "codex")
    held = stop_answer(relay, {"session_id": "s1", "hook_event_name": "Stop"}, options)
    assert held is not None and "decision" not in held
    assert "relay loop guard: 3 messages in a row" in held["systemMessage"]
    assert relay.store.get_position("claude", "proj-x") == 0  # nothing was handed over: still unread
    post(relay, "dana", source="web-ui")
    post(relay, "codex")
    resumed = stop_answer(relay, {"session_id": "s1", "hook_event_name": "Stop"}, options)
    assert resumed is not None and resumed["decision"] == "block"
    assert "from codex" in resumed["reason"] or "codex" in resumed["reason"]
