"""The loop guard end to end: two stand-in agents that answer each other (two ``relay watch`` processes,
each running tests/e2e/standin_agent.py, which posts through a real relay-stdio) stop after the limit,
a Claude Code channel client is not pushed the held message, the viewer says the channel is paused,
and a person's ``relay post`` resumes it for exactly one more run of the limit.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from relay_web import create_app
from shared.config import resolve_config
from shared.relay import Relay
from tests.e2e.channel_client import ChannelClient
from tests.e2e.conftest import child_env, relay_cli

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
LIMIT = 6  # the default is 12; a smaller limit keeps the test short, the rule is the same
HANG_GUARD_S = 120


class Agents:
    """alice answers bob and bob answers alice, each through its own relay watch."""

    def __init__(self, tmp_path: Path) -> None:
        self.data = tmp_path / "data"
        self.env = child_env(
            tmp_path,
            CLAUDE_CODEX_DATA_DIR=str(self.data),
            CLAUDE_CODEX_LOOP_GUARD=str(LIMIT),
            PYTHONPATH=str(REPO),
        )
        self.relay = Relay(resolve_config({"data_dir": str(self.data), "loop_guard": LIMIT}, env={}))
        self.watchers: list[subprocess.Popen[str]] = []
        self.home = tmp_path

    def start(self, name: str, peer: str) -> None:
        command = f"{sys.executable} -m tests.e2e.standin_agent {name}"
        argv = [*relay_cli(), "watch", "proj-x", "--from", peer, "--exec", command]
        proc = subprocess.Popen(argv, env=self.env, stderr=subprocess.PIPE, text=True, cwd=REPO)
        state = self.data / "watch" / f"proj-x--{peer}.json"
        self.wait_until(state.exists)
        self.watchers.append(proc)

    def messages(self) -> list[dict[str, Any]]:
        return self.relay.store.read_since("proj-x", 0, 200)[0]

    def wait_until(self, condition: Any) -> None:
        deadline = time.monotonic() + HANG_GUARD_S
        while not condition():
            assert time.monotonic() < deadline, "condition never became true"
            time.sleep(0.05)

    def stop(self) -> list[str]:
        errors = []
        for proc in self.watchers:
            proc.terminate()
            errors.append(proc.communicate(timeout=30)[1])
        return errors


@pytest.fixture
def agents(tmp_path: Path) -> Iterator[Agents]:
    running = Agents(tmp_path)
    yield running
    for proc in running.watchers:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def expected_answers(first_id: int, count: int, first_sender: str) -> list[tuple[int, str, str]]:
    names = ["alice", "bob"] if first_sender == "alice" else ["bob", "alice"]
    return [(first_id + n, names[n % 2], f"{names[n % 2]} answers #{first_id + n - 1}") for n in range(count)]


def test_agents_answering_each_other_stop_at_the_limit_until_a_person_writes(
    agents: Agents, tmp_path: Path
) -> None:
    agents.start("alice", "bob")
    agents.start("bob", "alice")
    carol = ChannelClient(
        agents.data, tmp_path / "carol", "claude-code", ("--channel", "proj-x", "--sender", "carol"),
        {"CLAUDE_CODEX_LOOP_GUARD": str(LIMIT)},
    )  # fmt: skip
    try:
        agents.relay.post("proj-x", "alice opens", "alice", source="mcp")
        agents.wait_until(lambda: len(agents.messages()) >= LIMIT)
        # Both watchers saw message #LIMIT and held it: no answer to it comes, however long we look.
        pushed = [carol.next_push() for _ in range(LIMIT - 1)]
        assert carol.pushes_within(2.0) == []
        records = agents.messages()
        assert len(records) == LIMIT
        got = [(m["id"], m["sender"], m["text"]) for m in records]
        assert got == [(1, "alice", "alice opens"), *expected_answers(2, LIMIT - 1, "bob")]
        assert [e["params"]["meta"]["id"] for e in pushed] == [str(n) for n in range(1, LIMIT)]

        app = create_app(resolve_config({"data_dir": str(agents.data), "loop_guard": LIMIT}, env={}))
        page = app.test_client().get("/channels/proj-x").get_data(as_text=True)
        assert 'id="loop-paused" class="paused" role="status">' in page
        updates = app.test_client().get("/ui/channels/proj-x/updates?since_id=0").get_json()
        assert updates["loop_guard"] == {"paused": True, "run": LIMIT, "limit": LIMIT}

        person = subprocess.run(
            [*relay_cli(), "post", "proj-x", "dana here: one more round, then stop", "--sender", "dana"],
            env=agents.env, capture_output=True, text=True, timeout=HANG_GUARD_S, check=True,
        )  # fmt: skip
        assert "posted #7" in person.stdout
        total = LIMIT + 1 + LIMIT
        agents.wait_until(lambda: len(agents.messages()) >= total)
        assert carol.next_push()["params"]["meta"] == {"target": "proj-x", "id": "7", "sender": "dana"}
        more = [carol.next_push() for _ in range(LIMIT - 1)]
        assert carol.pushes_within(2.0) == []
        records = agents.messages()
        assert len(records) == total
        resumed = [(m["id"], m["sender"], m["text"]) for m in records[LIMIT + 1 :]]
        # alice answers the batch that was held (bob's #LIMIT), then they alternate again.
        first = (LIMIT + 2, "alice", f"alice answers #{LIMIT}")
        assert resumed == [first, *expected_answers(LIMIT + 3, LIMIT - 1, "bob")]
        assert [e["params"]["meta"]["id"] for e in more] == [str(n) for n in range(LIMIT + 2, total)]
        page = app.test_client().get("/channels/proj-x").get_data(as_text=True)
        assert 'id="loop-paused" class="paused" role="status">' in page
    finally:
        carol.close()
    assert "relay loop guard: 6 messages in a row" in "".join(agents.stop())  # the holding watcher says so
