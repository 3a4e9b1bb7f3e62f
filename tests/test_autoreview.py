"""automation/autoreview.py: the codex exec command line and prompt for one batch (real runs: tests/e2e)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from relay_stdio.automation.autoreview import (
    APPROVE_RELAY_TOOLS,
    REQUIRE_RELAY,
    SESSION_KEY,
    CodexReview,
    RememberingReview,
    find_codex,
    review_prompt,
)
from relay_stdio.automation.watching import Batch, WatchState
from relay_stdio.cli import main
from shared.errors import ConfigError
from shared.trust import untrusted_framing

BATCH = Batch("proj-x", "claude", 4, 6, (5, 6))


def test_a_new_session_per_batch_in_the_read_only_sandbox_by_default() -> None:
    assert CodexReview().argv(BATCH) == [
        "codex", "exec", "--skip-git-repo-check", "-c", APPROVE_RELAY_TOOLS, "-c", REQUIRE_RELAY,
        "-c", 'sandbox_mode="read-only"', review_prompt(BATCH),
    ]  # fmt: skip


def test_cd_and_extra_arguments_go_before_the_prompt() -> None:
    review = CodexReview("/opt/codex", sandbox="workspace-write", cd="/src/app", extra_args=("--model", "m"))
    assert review.argv(BATCH)[:2] == ["/opt/codex", "exec"]
    assert review.argv(BATCH)[-6:-1] == ['sandbox_mode="workspace-write"', "--cd", "/src/app", "--model", "m"]


def test_a_resumed_session_keeps_its_folder_and_takes_the_id_before_the_prompt() -> None:
    argv = CodexReview(session_id="0199-abc", cd="/src/app").argv(BATCH)
    assert argv[:3] == ["codex", "exec", "resume"] and "--cd" not in argv
    assert argv[-2:] == ["0199-abc", review_prompt(BATCH)]


def test_bypass_replaces_the_sandbox() -> None:
    argv = CodexReview(bypass=True).argv(BATCH)
    assert "--dangerously-bypass-approvals-and-sandbox" in argv
    assert not any(arg.startswith("sandbox_mode") for arg in argv)


def test_the_prompt_names_what_to_fetch_where_to_reply_and_that_packets_are_not_instructions() -> None:
    prompt = review_prompt(BATCH)
    assert "from claude in the relay channel proj-x: ids 5 6." in prompt
    assert 'fetch_messages tool (target="proj-x", since_id=4)' in prompt
    assert 'post_message (target="proj-x", reply_to=6)' in prompt
    assert untrusted_framing("proj-x", ["claude"]) in prompt
    sections = "Verdict (approve, approve with nits, or request changes), Major issues, Minor issues"
    assert f"{sections} and Tests to add" in prompt


def test_run_gives_codex_the_batch_environment_and_empty_stdin(tmp_path: Path) -> None:
    codex = tmp_path / "codex"
    out = tmp_path / "seen.json"
    codex.write_text(
        f"#!{sys.executable}\nimport json, os, sys\n"
        f"json.dump({{'argv': sys.argv[1:], 'stdin': sys.stdin.read(), 'env': dict(os.environ)}}, "
        f"open({str(out)!r}, 'w'))\nsys.exit(3)\n"
    )
    codex.chmod(0o755)
    assert CodexReview(str(codex)).run(BATCH, tmp_path / "data") == 3
    seen = json.loads(out.read_text())
    assert seen["argv"] == CodexReview(str(codex)).argv(BATCH)[1:] and seen["stdin"] == ""
    assert {k: seen["env"][k] for k in ("RELAY_IDS", "RELAY_SINCE_ID", "CLAUDE_CODEX_DATA_DIR")} == {
        "RELAY_IDS": "5 6", "RELAY_SINCE_ID": "4", "CLAUDE_CODEX_DATA_DIR": str(tmp_path / "data"),
    }  # fmt: skip


def test_a_missing_codex_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no-such-codex is not on PATH.*--codex-bin"):
        find_codex("no-such-codex")
    with pytest.raises(ConfigError, match=r"cannot run .*gone.*--codex-bin"):
        CodexReview(str(tmp_path / "gone")).run(BATCH, tmp_path)


def fake_codex(tmp_path: Path, session: str | None, status: int = 0) -> tuple[Path, Path]:
    """A codex that records its argv and prints a thread.started event naming ``session`` (None: none)."""
    codex, calls = tmp_path / "codex", tmp_path / "calls.jsonl"
    event = json.dumps({"type": "thread.started", "thread_id": session}) if session else ""
    message = json.dumps({"type": "item.completed", "item": {"type": "agent_message", "text": "reviewed"}})
    codex.write_text(
        f"#!{sys.executable}\nimport json, sys\n"
        f"open({str(calls)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n"
        f"print({event!r}); print('not json'); print({message!r})\nsys.exit({status})\n"
    )
    codex.chmod(0o755)
    return codex, calls


def test_every_batch_resumes_the_session_the_first_one_started(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    codex, calls = fake_codex(tmp_path, "0199-first")
    state = WatchState(tmp_path / "state.json", "proj-x", "claude")
    state.save(4)
    review = RememberingReview(CodexReview(str(codex)), state)
    assert review.run(BATCH, tmp_path) == 0
    assert review.run(Batch("proj-x", "claude", 6, 7, (7,)), tmp_path) == 0
    first, second = [json.loads(line) for line in calls.read_text().splitlines()]
    assert first[:1] == ["exec"] and "--json" in first and "resume" not in first
    assert second[:2] == ["exec", "resume"] and second[-2] == "0199-first" and "--json" in second
    assert state.recall(SESSION_KEY) == "0199-first" and state.load() == 4  # the position is untouched
    state.save(7)
    assert state.recall(SESSION_KEY) == "0199-first"  # saving the position keeps the session
    assert "codex: reviewed" in capfd.readouterr().err


def test_a_session_that_cannot_be_resumed_is_forgotten_so_the_retry_starts_a_new_one(tmp_path: Path) -> None:
    codex, calls = fake_codex(tmp_path, None, status=1)
    state = WatchState(tmp_path / "state.json", "proj-x", "claude")
    state.remember(SESSION_KEY, "gone-session")
    review = RememberingReview(CodexReview(str(codex)), state)
    assert review.run(BATCH, tmp_path) == 1
    assert state.recall(SESSION_KEY) is None
    codex, calls = fake_codex(tmp_path, "0199-new")
    assert review.run(BATCH, tmp_path) == 0
    assert "resume" not in json.loads(calls.read_text().splitlines()[-1])
    assert state.recall(SESSION_KEY) == "0199-new"


def test_fresh_and_session_together_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["codex-auto-review", "--fresh", "--session", "x"])
    assert result.exit_code == 2 and "--session ID or --fresh" in result.stderr
