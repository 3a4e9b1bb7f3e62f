"""The review loop's Codex side with the real Codex CLI, offline: ``relay codex-auto-review`` runs real
``codex exec`` against a stand-in Responses API server scripted to call the relay's MCP tools through
Codex (fetch_messages, then post_message), and the second round resumes the same Codex session: its
model request holds the first round's conversation.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import relay_cli
from tests.e2e.standin_models import (
    ResponsesStandin,
    codex_provider_toml,
    function_call,
    input_text,
    message,
    offered_tools,
    tool_output,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

NODE_BIN = Path(__file__).parent / "node" / "node_modules" / ".bin"
HANG_GUARD_S = 120
RELAY_TOOLS = "mcp__relay"


def reviewer(number: int, body: dict[str, Any]) -> list[dict[str, Any]]:
    """Codex's stand-in model: fetch what the prompt names, post a verdict replying to it, then finish."""
    assert f"{RELAY_TOOLS}/fetch_messages" in offered_tools(body)
    last = body["input"][-1]
    if last.get("type") == "message":  # a round's prompt: fetch the batch it names
        since = int(json.dumps(last).split("since_id=")[1].split(")")[0])
        args = {"target": "proj-x", "since_id": since}
        return [function_call("fetch_messages", args, f"fetch{number}", RELAY_TOOLS)]
    result = tool_output(body)
    if "messages" in result:  # the fetch's result: review what it holds
        latest = result["messages"][-1]["id"]
        firsts = "; ".join(m["text"].splitlines()[0] for m in result["messages"])
        verdict = f"## Verdict\nrequest changes: reviewed up to #{latest} ({firsts})"
        args = {"target": "proj-x", "text": verdict, "reply_to": latest}
        return [function_call("post_message", args, f"post{number}", RELAY_TOOLS)]
    return [message(f"Posted review #{result['posted']}.")]


def post(env: dict[str, str], text: str) -> int:
    done = subprocess.run(
        [*relay_cli(), "post", "proj-x", text, "--sender", "claude", "--json"],
        env=env, capture_output=True, text=True, check=True, timeout=HANG_GUARD_S,
    )  # fmt: skip
    return int(json.loads(done.stdout)["id"])


def review_once(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    codex = NODE_BIN / "codex"
    argv = [
        *relay_cli(),
        "codex-auto-review",
        "--from",
        "claude",
        "--once",
        "--since",
        "0",
        "--codex-bin",
        str(codex),
    ]
    return subprocess.run(
        argv, env=env, cwd=env["HOME"], capture_output=True, text=True, timeout=HANG_GUARD_S
    )


def channel(data: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (data / "channels" / "proj-x.jsonl").read_text().splitlines()]


def test_two_rounds_of_review_run_in_one_codex_session(tmp_path: Path) -> None:
    if not (NODE_BIN / "codex").exists():
        pytest.skip("codex is not installed in tests/e2e/node (scripts/test.sh installs it)")
    home, data = tmp_path / "home", tmp_path / "data"
    (home / ".codex").mkdir(parents=True)
    env = {
        "HOME": str(home), "LANG": "C.UTF-8", "CODEX_HOME": str(home / ".codex"),
        "PATH": os.pathsep.join([str(Path(relay_cli()[0]).parent), "/usr/bin", "/bin"]),
        "CLAUDE_CODEX_DATA_DIR": str(data),
    }  # fmt: skip
    with ResponsesStandin(reviewer) as model:
        (home / ".codex" / "config.toml").write_text(codex_provider_toml(model.base_url))
        setup = subprocess.run(
            [*relay_cli(), "setup", "codex", "--apply", "--no-hooks"], env=env, capture_output=True
        )
        assert setup.returncode == 0, setup.stderr

        post(env, "Packet 1: add parse_empty()")
        first = review_once(env)
        assert first.returncode == 0, (first.stderr, model.errors)
        state = json.loads((data / "watch" / "proj-x--claude.json").read_text())
        session = state["codex_session"]
        assert "codex: Posted review #2." in first.stderr
        round_one = len(model.requests)

        post(env, "Packet 2: parse_empty() now tested")
        second = review_once(env)
        assert second.returncode == 0, (second.stderr, model.errors)
    assert model.errors == []
    assert json.loads((data / "watch" / "proj-x--claude.json").read_text())["codex_session"] == session
    assert [(m["id"], m["sender"], m.get("reply_to")) for m in channel(data)] == [
        (1, "claude", None), (2, "codex", 1), (3, "claude", None), (4, "codex", 3),
    ]  # fmt: skip
    assert (
        "reviewed up to #3" in channel(data)[3]["text"]
        and "Packet 2: parse_empty() now tested" in channel(data)[3]["text"]
    )
    # The second round's first request carries the first round: the same Codex session, resumed.
    second_round = input_text(model.requests[round_one])
    assert "Packet 1: add parse_empty()" in second_round and "reviewed up to #1" in second_round
    assert "since_id=1" in input_text(model.requests[round_one])
