"""``relay hook claude-stop`` / ``claude-context``: answers in Claude Code's documented hook format.

The format expectations below are written from Claude Code's hooks reference
(https://code.claude.com/docs/en/hooks):
* Stop input: common fields (session_id, transcript_path, cwd, permission_mode, hook_event_name) plus
  stop_hook_active ("true when Claude Code is already continuing as a result of a stop hook").
* Stop output: top-level ``decision`` ("block" prevents Claude from stopping) and ``reason`` (required
  with block; Claude's next instruction), plus the common ``continue``, ``stopReason``,
  ``suppressOutput`` and ``systemMessage``. No output (exit 0) lets Claude stop.
* SessionStart / UserPromptSubmit output: ``hookSpecificOutput`` with ``hookEventName`` (the event)
  and ``additionalContext`` (a string added to Claude's context).
* Exit status 2 from a Stop hook blocks with stderr as the reason, so errors must never exit 2.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from relay_stdio.cli import main
from shared.relay import Relay

COMMON_OUTPUT = {"continue", "stopReason", "suppressOutput", "systemMessage"}


def assert_valid_stop_output(answer: dict[str, Any]) -> None:
    assert set(answer) <= COMMON_OUTPUT | {"decision", "reason"}, answer
    if "decision" in answer:
        assert answer["decision"] == "block"
        assert isinstance(answer["reason"], str) and answer["reason"].strip()
    if "systemMessage" in answer:
        assert isinstance(answer["systemMessage"], str)


def assert_valid_context_output(answer: dict[str, Any], event: str) -> None:
    assert set(answer) <= COMMON_OUTPUT | {"hookSpecificOutput"}, answer
    specific = answer["hookSpecificOutput"]
    assert set(specific) == {"hookEventName", "additionalContext"}
    assert specific["hookEventName"] == event and isinstance(specific["additionalContext"], str)


def stop_input(active: bool = False, session: str = "s-1") -> str:
    return json.dumps(
        {
            "session_id": session,
            "transcript_path": "/tmp/t.jsonl",
            "cwd": "/tmp",
            "permission_mode": "default",
            "hook_event_name": "Stop",
            "stop_hook_active": active,
        }
    )


@pytest.fixture
def runner(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("CLAUDE_CODEX_DATA_DIR", str(data_dir))
    return CliRunner()


def stop(runner: CliRunner, payload: str, *options: str) -> dict[str, Any] | None:
    args = ["hook", "claude-stop", "--target", "proj-x", "--from", "codex", *options]
    result = runner.invoke(main, args, input=payload)
    assert result.exit_code == 0, result.output
    if not result.stdout.strip():
        return None
    answer: dict[str, Any] = json.loads(result.stdout)
    assert_valid_stop_output(answer)
    return answer


def test_stop_without_unread_messages_lets_claude_stop(runner: CliRunner, relay: Relay) -> None:
    relay.post("proj-x", "packet", "claude", source="mcp")
    assert stop(runner, stop_input()) is None


def test_stop_with_an_answer_continues_the_session_with_it(runner: CliRunner, relay: Relay) -> None:
    relay.post("proj-x", "packet", "claude", source="mcp")
    verdict = relay.post("proj-x", "## Verdict\napprove", "codex", source="mcp", reply_to=1)
    answer = stop(runner, stop_input())
    assert answer is not None and set(answer) == {"decision", "reason"}
    assert f"### #{verdict['id']} codex" in answer["reason"] and "## Verdict\napprove" in answer["reason"]
    assert "(reply to #1)" in answer["reason"]
    # Handed, not yet seen: the position moves at the session's next Stop, after the continued turn.
    assert relay.store.get_position("claude", "proj-x") == 0
    assert stop(runner, stop_input(active=True)) is None
    # The hook read as "claude": Claude's own fetch_messages will not return the verdict again.
    assert relay.store.get_position("claude", "proj-x") == verdict["id"]


def test_stop_waits_for_the_answer_when_claudes_post_is_the_newest(runner: CliRunner, relay: Relay) -> None:
    relay.post("proj-x", "packet", "claude", source="mcp")
    timer = threading.Timer(0.3, lambda: relay.post("proj-x", "LGTM", "codex", source="mcp"))
    timer.start()
    try:
        answer = stop(runner, stop_input(), "--wait", "600")
    finally:
        timer.join()
    assert answer is not None and "LGTM" in answer["reason"]


def test_stop_does_not_wait_when_nobody_is_owed_an_answer(runner: CliRunner, relay: Relay) -> None:
    relay.post("proj-x", "packet", "claude", source="mcp")
    relay.post("proj-x", "an aside", "ada", source="web-ui")
    # Ada's message is the newest, so Claude is not waiting for a reply: the hook must not block on
    # --wait (the test would take 600 s if it did) and Ada's message does not count (--from codex).
    assert stop(runner, stop_input(), "--wait", "600") is None
    assert relay.store.get_position("claude", "proj-x") == 0


def test_consecutive_continuations_are_capped(runner: CliRunner, relay: Relay) -> None:
    relay.post("proj-x", "packet", "claude", source="mcp")
    relay.post("proj-x", "round 1", "codex", source="mcp")
    assert stop(runner, stop_input(False), "--max-continuations", "2") is not None
    relay.post("proj-x", "round 2", "codex", source="mcp")
    assert stop(runner, stop_input(True), "--max-continuations", "2") is not None
    relay.post("proj-x", "round 3", "codex", source="mcp")
    capped = stop(runner, stop_input(True), "--max-continuations", "2")
    assert capped is not None and set(capped) == {"systemMessage"}  # no decision: Claude may stop
    assert "unread messages remain on proj-x" in capped["systemMessage"]
    assert relay.store.get_position("claude", "proj-x") == 3  # round 3 was not consumed
    # A new user turn (stop_hook_active false) starts counting again.
    again = stop(runner, stop_input(False), "--max-continuations", "2")
    assert again is not None and "round 3" in again["reason"]


def test_other_sessions_are_counted_separately(runner: CliRunner, relay: Relay) -> None:
    relay.post("proj-x", "one", "codex", source="mcp")
    assert stop(runner, stop_input(False, "a"), "--max-continuations", "1") is not None
    relay.post("proj-x", "two", "codex", source="mcp")
    assert stop(runner, stop_input(True, "b"), "--max-continuations", "1") is not None


def test_long_messages_are_cut_with_a_note_on_reading_them_whole(runner: CliRunner, relay: Relay) -> None:
    relay.post("proj-x", "x" * 50_000, "codex", source="mcp")
    answer = stop(runner, stop_input(), "--max-chars", "5000")
    assert answer is not None and len(answer["reason"]) < 8000
    assert "read it whole with fetch_messages target='proj-x' since_id=0 limit=1" in answer["reason"]


@pytest.mark.parametrize(
    ("args", "stdin", "expected"),
    [
        (["hook", "claude-stop", "--target", "proj-x", "--bogus"], "{}", "No such option"),
        (["hook", "claude-stop"], "{}", "--target"),
        (["hook", "claude-stop", "--target", "../x"], "{}", "letters, digits"),
        (["hook", "claude-stop", "--target", "proj-x"], "not json", "not JSON"),
        (["hook", "claude-stop", "--target", "proj-x"], "[1]", "JSON object"),
        (["hook", "claude-context", "--target", "proj-x"], stop_input(), "SessionStart and UserPromptSubmit"),
    ],
)
def test_mistakes_exit_1_never_2_and_print_nothing_on_stdout(
    runner: CliRunner, args: list[str], stdin: str, expected: str
) -> None:
    result = runner.invoke(main, args, input=stdin)
    assert result.exit_code == 1  # 2 would make Claude Code feed the error to Claude as an instruction
    assert result.stdout == ""
    assert expected in result.stderr


@pytest.mark.parametrize("event", ["SessionStart", "UserPromptSubmit"])
def test_context_hook_adds_unread_messages(runner: CliRunner, relay: Relay, event: str) -> None:
    args = ["hook", "claude-context", "--target", "proj-x"]
    payload = json.dumps({"session_id": "s", "hook_event_name": event, "source": "startup", "prompt": "hi"})
    assert runner.invoke(main, args, input=payload).stdout == ""
    relay.post("proj-x", "mine", "claude", source="mcp")
    relay.post("proj-x", "please rebase", "ada", source="web-ui")
    result = runner.invoke(main, args, input=payload)
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert_valid_context_output(answer, event)
    context = answer["hookSpecificOutput"]["additionalContext"]
    assert "### #2 ada" in context and "please rebase" in context and "mine" not in context
    assert runner.invoke(main, args, input=payload).stdout == ""  # consumed: shown once


def test_codex_stop_answers_in_the_same_format_and_counts_apart_from_claude(
    runner: CliRunner, relay: Relay
) -> None:
    relay.post("proj-x", "please review", sender="claude", source="mcp")
    args = ["hook", "codex-stop", "--target", "proj-x", "--from", "claude", "--max-continuations", "1"]
    result = runner.invoke(main, args, input=stop_input(session="codex-1"))
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert_valid_stop_output(answer) and answer["decision"] == "block"
    assert "please review" in answer["reason"]
    # The cap is Codex's own count: a second block in a row for this session is refused ...
    relay.post("proj-x", "one more", sender="claude", source="mcp")
    capped = runner.invoke(main, args, input=stop_input(active=True, session="codex-1"))
    assert "decision" not in json.loads(capped.stdout) and "after 1 rounds" in capped.stdout
    # ... while Claude's hook for a session of the same id counts from zero.
    claude = ["hook", "claude-stop", "--target", "proj-x", "--identity", "codex", "--from", "claude"]
    other = runner.invoke(main, claude, input=stop_input(active=True, session="codex-1"))
    assert json.loads(other.stdout)["decision"] == "block"
