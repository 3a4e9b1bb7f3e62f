"""The whole review loop with the real clients at both ends, offline and with nobody relaying.

Real Claude Code (``claude -p``, registered by ``relay setup claude --apply`` against the stand-in
Messages API) posts a review packet through the relay's MCP tools and stops; its Stop hook waits for
the answer. ``relay codex-auto-review`` runs real ``codex exec`` (against the stand-in Responses API),
which fetches the packet through its own relay server and posts a verdict. The Stop hook continues
Claude's session with it: Claude Code's next model request holds the verdict and the untrusted-input
framing. Claude posts a second packet, and the second review resumes the same Codex session.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from shared.trust import untrusted_framing
from tests.e2e.claude_code import (
    HANG_GUARD_S,
    RELAY_TOOLS,
    claude_env,
    claude_print,
    run_relay,
    set_up_claude,
)
from tests.e2e.conftest import relay_cli
from tests.e2e.node_clients import node_bin
from tests.e2e.standin_models import (
    MessagesStandin,
    ResponsesStandin,
    codex_provider_toml,
    input_text,
    messages_text,
    text,
    tool_result,
    tool_use,
)
from tests.e2e.test_review_loop_codex import reviewer

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PACKETS = ("Packet 1: add parse_empty()", "Packet 2: parse_empty() now tested")


def author(number: int, body: dict[str, Any]) -> list[dict[str, Any]]:
    """Claude's stand-in model: post packet 1, and after each verdict the next packet, then finish."""
    latest = messages_text({"messages": body["messages"][-1:]})
    if '"tool_result"' in latest:
        return [text(f"Posted packet #{tool_result(body)['posted']}; waiting for the review.")]
    if "reviewed up to #3" in latest:
        return [text("Both rounds are reviewed; done.")]
    packet = PACKETS[1] if "reviewed up to #1" in latest else PACKETS[0]
    args = {"target": "proj-x", "text": packet}
    return [tool_use(f"{RELAY_TOOLS}__post_message", args, f"post{number}")]


def channel(env: dict[str, str]) -> list[dict[str, Any]]:
    path = Path(env["CLAUDE_CODEX_DATA_DIR"]) / "channels" / "proj-x.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def start_auto_review(env: dict[str, str]) -> subprocess.Popen[str]:
    """The watcher as a person leaves it running: its own process group, so the test can end it all."""
    argv = [*relay_cli(), "codex-auto-review", "--from", "claude", "--codex-bin", str(node_bin("codex"))]
    return subprocess.Popen(
        argv, env=env, cwd=env["HOME"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip


def test_claude_code_and_codex_review_two_rounds_through_the_relay_alone(tmp_path: Path) -> None:
    with MessagesStandin(author) as claude_model, ResponsesStandin(reviewer) as codex_model:
        env = claude_env(tmp_path, claude_model.base_url)
        env["CODEX_HOME"] = str(Path(env["HOME"]) / ".codex")
        Path(env["CODEX_HOME"]).mkdir()
        (Path(env["CODEX_HOME"]) / "config.toml").write_text(codex_provider_toml(codex_model.base_url))
        codex_setup = run_relay(env, "setup", "codex", "--apply", "--no-hooks")
        assert codex_setup.returncode == 0, codex_setup.stderr
        set_up_claude(env)
        watcher = start_auto_review(env)
        try:
            claude = claude_print(env, "Post a review packet for parse_empty() to proj-x.")
            out, err = claude.communicate(timeout=HANG_GUARD_S)
        finally:
            os.killpg(watcher.pid, signal.SIGTERM)
            _, review_log = watcher.communicate(timeout=HANG_GUARD_S)
    assert claude.returncode == 0, (err, review_log)
    assert claude_model.errors == [] and codex_model.errors == []
    assert out.strip() == "Both rounds are reviewed; done."
    records = channel(env)
    assert [(m["id"], m["sender"], m.get("reply_to")) for m in records] == [
        (1, "claude", None), (2, "codex", 1), (3, "claude", None), (4, "codex", 3),
    ]  # fmt: skip
    assert records[0]["text"] == PACKETS[0] and records[2]["text"] == PACKETS[1]
    # Each verdict reached Claude's next model request through the Stop hook, framed as untrusted input.
    framing = json.dumps(untrusted_framing("proj-x", ["codex via mcp"]))[1:-1]
    shown = [messages_text({"messages": body["messages"][-1:]}) for body in claude_model.requests]
    for verdict in (records[1], records[3]):
        (request,) = [said for said in shown if f"#{verdict['id']} codex" in said]
        assert json.dumps(verdict["text"])[1:-1] in request and framing in request
    assert len(claude_model.requests) == 5  # packet, posted; verdict 1 -> packet 2, posted; verdict 2
    # The second review resumed the Codex session of the first: its first request holds round one.
    sessions = [line for line in review_log.splitlines() if "reviewing" in line]
    assert sessions == [
        "relay codex-auto-review: reviewing #1 on proj-x",
        "relay codex-auto-review: reviewing #3 on proj-x",
    ]
    second_round = [input_text(body) for body in codex_model.requests if "since_id=1" in input_text(body)]
    assert second_round and PACKETS[0] in second_round[0] and "reviewed up to #1" in second_round[0]
