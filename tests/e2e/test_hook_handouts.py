"""A message a hook hands to a session counts as read only once a turn of that session ran with it.

The hook commands run as Claude Code runs them: a process per event with the hook input JSON on stdin.
A model call that fails ends the turn with StopFailure (which the relay does not register), so such a
session produces no Stop: these tests leave the Stop out to play that session.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from shared.relay import Relay
from tests.e2e.conftest import relay_cli

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
HANG_GUARD_S = 60


class Claude:
    """Runs the relay's hook commands for one store, as Claude Code's settings.json registers them."""

    def __init__(self, data_dir: Path) -> None:
        self.env = {**os.environ, "CLAUDE_CODEX_DATA_DIR": str(data_dir)}
        self.data_dir = data_dir

    def run(self, argv: list[str], payload: dict[str, object]) -> str:
        done = subprocess.run(
            argv, input=json.dumps(payload), env=self.env, capture_output=True, text=True,
            timeout=HANG_GUARD_S, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout

    def context(self, session: str, event: str) -> str:
        argv = [*relay_cli(), "hook", "claude-context", "--target", "proj-x", "--identity", "claude"]
        out = self.run(argv, {"session_id": session, "hook_event_name": event, "source": "startup"})
        return str(json.loads(out)["hookSpecificOutput"]["additionalContext"]) if out else ""

    def stop(self, session: str, active: bool = False) -> str:
        argv = [*relay_cli(), "hook", "claude-stop", "--target", "proj-x", "--identity", "claude"]
        out = self.run(argv, {"session_id": session, "hook_event_name": "Stop", "stop_hook_active": active})
        return str(json.loads(out)["reason"]) if out else ""


def handed(text: str) -> list[int]:
    """The message ids a hook's text hands over, in order."""
    return [int(found) for found in re.findall(r"^### #(\d+) ", text, re.MULTILINE)]


def test_a_session_start_whose_turn_never_ran_hands_its_messages_again(data_dir: Path, relay: Relay) -> None:
    relay.post("proj-x", "please rebase", "codex", source="mcp")
    claude = Claude(data_dir)
    assert handed(claude.context("a", "SessionStart")) == [1]
    # Session a's model call fails: no Stop. Nothing counts as read, so session b gets it again.
    assert relay.store.get_position("claude", "proj-x") == 0
    assert handed(claude.context("b", "SessionStart")) == [1]
    relay.post("proj-x", "and update the docs", "ada", source="web-ui")
    # Session b's first prompt: #1 is in its context already, only #2 is new.
    assert handed(claude.context("b", "UserPromptSubmit")) == [2]
    assert relay.store.get_position("claude", "proj-x") == 0
    # The turn ran: its Stop moves the position past both, and finds nothing new.
    assert claude.stop("b") == ""
    assert relay.store.get_position("claude", "proj-x") == 2
    assert claude.context("c", "SessionStart") == ""


def test_a_stop_block_counts_as_read_only_after_the_continued_turn(data_dir: Path, relay: Relay) -> None:
    relay.post("proj-x", "packet", "claude", source="mcp")
    relay.post("proj-x", "## Verdict\nrequest changes", "codex", source="mcp", reply_to=1)
    claude = Claude(data_dir)
    assert handed(claude.stop("a")) == [2]
    # The continued turn's model call fails and the session ends: the verdict is not lost.
    assert relay.store.get_position("claude", "proj-x") == 0
    assert handed(claude.context("b", "SessionStart")) == [2]
    assert claude.stop("b") == ""
    assert relay.store.get_position("claude", "proj-x") == 2


def test_the_hand_test_in_docs_claude_md_never_moves_a_position(data_dir: Path, relay: Relay) -> None:
    """The command a person runs to try the Stop hook answers, but consumes nothing."""
    doc = (ROOT / "docs" / "claude.md").read_text(encoding="utf-8")
    [command] = re.findall(r"^echo '.*' \|\s*\\?\n?\s*relay hook claude-stop .*$", doc, re.MULTILINE)
    assert "--dry-run" in command
    relay.post("proj-x", "## Verdict\napprove", "codex", source="mcp")
    hooks_dir = data_dir / "hooks"
    for _ in range(2):  # run twice with the same session: a real hook's second Stop would confirm
        shell = command.replace("relay hook", f"{shlex.join(relay_cli())} hook", 1)
        done = subprocess.run(
            ["bash", "-c", shell], env=Claude(data_dir).env, capture_output=True, text=True,
            timeout=HANG_GUARD_S, check=True,
        )  # fmt: skip
        assert handed(json.loads(done.stdout)["reason"]) == [1]
        assert relay.store.get_position("claude", "proj-x") == 0
        assert not hooks_dir.exists() or list(hooks_dir.iterdir()) == []
    # The real hook still hands the message over.
    assert handed(Claude(data_dir).stop("t")) == [1]
