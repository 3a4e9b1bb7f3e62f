"""Claude Code channels with the real client: a message posted to the relay reaches an idle interactive
Claude Code session by itself, through relay-stdio's ``notifications/claude/channel``.

Claude Code 2.1.332 opens an MCP connection with a ``server/discover`` probe (MCP 2026-07-28) and
delivers channel notifications only on connections of the older, ``initialize``-based protocol, so
relay-stdio answers that probe from a client it pushes to as an older server does
(relay_stdio/protocol_era.py). The first tests check that exchange on a real relay-stdio process; the
last runs real interactive Claude Code under tmux (channels need an interactive session) against the
stand-in Messages API, started with ``--dangerously-load-development-channels server:relay``.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from shared.clientsetup import claude_channel_launch
from shared.trust import untrusted_framing
from tests.e2e.claude_code import (
    HANG_GUARD_S,
    RELAY_TOOLS,
    claude_env,
    run_relay,
    set_up_claude,
    wait_until,
    workdir,
)
from tests.e2e.conftest import child_env, relay_stdio_command
from tests.e2e.node_clients import node_bin, unavailable
from tests.e2e.standin_models import MessagesStandin, Script, messages_text, text, tool_use

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ENVELOPE_VERSION = "2026-07-28"


def envelope(client: str) -> dict[str, Any]:
    """The per-request ``_meta`` of MCP 2026-07-28, as Claude Code 2.1.332 sends it."""
    return {
        "io.modelcontextprotocol/protocolVersion": ENVELOPE_VERSION,
        "io.modelcontextprotocol/clientInfo": {"name": client, "version": "2.1.332"},
        "io.modelcontextprotocol/clientCapabilities": {},
    }


def exchange(tmp_path: Path, *requests: dict[str, Any], extra: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Send JSON-RPC requests to a real relay-stdio, one answer read after each."""
    answers = []
    with subprocess.Popen(
        [*relay_stdio_command(), *extra],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=child_env(tmp_path), cwd=tmp_path,
    ) as proc:  # fmt: skip
        assert proc.stdin is not None and proc.stdout is not None
        for request in requests:
            proc.stdin.write((json.dumps(request) + "\n").encode())
            proc.stdin.flush()
            answers.append(json.loads(proc.stdout.readline()))
        proc.stdin.close()
        assert proc.wait(timeout=HANG_GUARD_S) == 0
    return answers


def discover(client: str) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": "probe",
        "method": "server/discover",
        "params": {"_meta": envelope(client)},
    }


def initialize(client: str) -> dict[str, Any]:
    params = {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": client, "version": "1"},
    }
    return {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": params}


def test_claude_code_is_served_the_older_protocol_where_it_takes_channels(tmp_path: Path) -> None:
    probe, initialized = exchange(tmp_path, discover("claude-code"), initialize("claude-code"))
    # As a server of the older protocol answers the probe, so Claude Code falls back to initialize.
    assert probe == {
        "jsonrpc": "2.0",
        "id": "probe",
        "error": {"code": -32601, "message": "Method not found"},
    }
    assert initialized["result"]["protocolVersion"] == "2025-11-25"
    assert initialized["result"]["capabilities"]["experimental"] == {"claude/channel": {}}


def test_a_client_the_relay_does_not_push_to_keeps_the_new_protocol(tmp_path: Path) -> None:
    (found,) = exchange(tmp_path, discover("codex-mcp-client"))
    assert ENVELOPE_VERSION in found["result"]["supportedVersions"]
    assert "claude/channel" not in found["result"]["capabilities"].get("experimental", {})


def test_with_push_any_client_is_served_the_older_protocol(tmp_path: Path) -> None:
    probe, initialized = exchange(
        tmp_path, discover("codex-mcp-client"), initialize("codex-mcp-client"), extra=("--push",)
    )
    assert probe["error"]["code"] == -32601
    assert initialized["result"]["capabilities"]["experimental"] == {"claude/channel": {}}


REPLY = "Thanks, on it."


def answer_channel_events(number: int, body: dict[str, Any]) -> list[dict[str, Any]]:
    """The stand-in model: a channel event gets a reply through post_message, as the instructions say."""
    said = messages_text(body)  # Claude Code puts a system message after the event: search them all
    if '"tool_result"' in said:
        return [text("Answered on the relay.")]
    event = re.search(r'<channel source=\\"relay\\" target=\\"([^\\"]+)\\" id=\\"(\d+)\\"', said)
    if event is None:
        return [text("Ready.")]
    args = {"target": event.group(1), "text": REPLY, "reply_to": int(event.group(2))}
    return [tool_use(f"{RELAY_TOOLS}__post_message", args, f"reply{number}")]


def interactive_env(root: Path, base_url: str) -> dict[str, str]:
    """Claude Code's environment for an interactive session whose cached feature flags allow channels.

    Claude Code ignores its cached flags when telemetry or nonessential traffic is switched off, so
    those two stay on, and a proxy that refuses every connection keeps it offline all the same (the
    stand-in model on 127.0.0.1 is exempt).
    """
    env = claude_env(root, base_url)
    for name in ("DISABLE_TELEMETRY", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC"):
        env.pop(name)
    refused = "http://127.0.0.1:9"
    env |= {
        "HTTPS_PROXY": refused,
        "HTTP_PROXY": refused,
        "NO_PROXY": "127.0.0.1,localhost",
        "TERM": "xterm-256color",
    }
    return env


def trust_and_flags(env: dict[str, str]) -> None:
    """``~/.claude.json`` as after a person's first start: onboarding done, this folder and the API key
    accepted, and the feature flags cached with channels on (``tengu_harbor``)."""
    path = Path(env["HOME"]) / ".claude.json"
    config = json.loads(path.read_text())
    config["cachedGrowthBookFeatures"] = {**config.get("cachedGrowthBookFeatures", {}), "tengu_harbor": True}
    config |= {"hasCompletedOnboarding": True, "theme": "dark"}
    config["customApiKeyResponses"] = {"approved": [env["ANTHROPIC_API_KEY"][-20:]], "rejected": []}
    config["projects"][str(workdir(env))]["hasTrustDialogAccepted"] = True
    path.write_text(json.dumps(config))


class Tmux:
    """A private tmux server (its own socket) running one window; ended with the test."""

    def __init__(self, socket: Path) -> None:
        found = shutil.which("tmux")
        if found is None:
            unavailable("tmux is not installed (apt-get install tmux)")
        self.argv = [str(found), "-S", str(socket)]

    def start(self, env: dict[str, str], argv: list[str]) -> None:
        command = shlex.join(["env", "-i", *(f"{k}={v}" for k, v in env.items()), *argv])
        self.run(
            "new-session", "-d", "-s", "claude", "-x", "160", "-y", "50", "-c", str(workdir(env)), command
        )

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "claude").stdout

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", "claude", *keys)

    def run(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.argv, *argv], capture_output=True, text=True, timeout=HANG_GUARD_S)

    def close(self) -> None:
        self.run("kill-server")


@contextmanager
def interactive_claude(root: Path, script: Script) -> Iterator[tuple[Tmux, MessagesStandin, dict[str, str]]]:
    """Real interactive Claude Code in tmux, set up by ``relay setup claude --channels --apply``, its
    development-channel warning accepted, idle at its prompt with the relay's channel registered."""
    tmux = Tmux(root / "tmux.sock")
    with MessagesStandin(script) as standin:
        env = interactive_env(root, standin.base_url)
        set_up_claude(env, "--channels")
        trust_and_flags(env)
        debug_log = Path(env["HOME"]) / ".claude" / "debug" / "latest"
        try:
            # The launch command `relay setup claude --channels` prints, with this claude binary.
            launch = [str(node_bin("claude")), *claude_channel_launch()[1:], "--debug"]
            tmux.start(env, [*launch, "--allowedTools", RELAY_TOOLS])
            warning = "I am using this for local development"
            wait_until(lambda: warning in tmux.screen(), "the development channels warning", tmux.screen)
            tmux.keys("Enter")  # accepted, once, as a person does
            registered = "Channel notifications registered"
            wait_until(
                lambda: debug_log.exists() and registered in debug_log.read_text(), registered, tmux.screen
            )
            yield tmux, standin, env
        finally:
            tmux.close()


def post(env: dict[str, str], words: str) -> int:
    done = run_relay(env, "post", "proj-x", words, "--sender", "codex", "--json")
    assert done.returncode == 0, done.stderr
    return int(json.loads(done.stdout)["id"])


def channel_records(env: dict[str, str]) -> list[dict[str, Any]]:
    path = Path(env["CLAUDE_CODEX_DATA_DIR"]) / "channels" / "proj-x.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def pushed_count(env: dict[str, str]) -> int:
    """How many channel notifications Claude Code has received (its ``--debug`` log counts them)."""
    log = Path(env["HOME"]) / ".claude" / "debug" / "latest"
    return log.read_text().count("notifications/claude/channel (") if log.exists() else 0


def channel_tag(message_id: int) -> str:
    """The event Claude Code shows the model, as it appears inside a JSON request body."""
    return json.dumps(f'<channel source="relay" target="proj-x" id="{message_id}" sender="codex">')[1:-1]


def test_a_post_wakes_an_idle_interactive_claude_code_through_the_channel(tmp_path: Path) -> None:
    with interactive_claude(tmp_path, answer_channel_events) as (tmux, standin, env):
        assert standin.requests == []  # the session sits idle at its prompt
        posted = post(env, "verdict: approve")
        replied = lambda: any(m.get("reply_to") == posted for m in channel_records(env))  # noqa: E731
        wait_until(replied, "Claude's answer on the channel", tmux.screen)
    assert standin.errors == []
    woken = messages_text(next(body for body in standin.requests if body.get("tools")))
    assert channel_tag(posted) in woken and "verdict: approve" in woken
    assert json.dumps(untrusted_framing("proj-x", ["codex via cli"]))[1:-1] in woken
    assert [(m["id"], m["sender"], m.get("reply_to"), m["text"]) for m in channel_records(env)] == [
        (1, "codex", None, "verdict: approve"), (2, "claude", 1, REPLY),
    ]  # fmt: skip


def test_a_push_during_a_turn_reaches_the_next_model_request_of_that_turn(tmp_path: Path) -> None:
    posted: list[int] = []

    def working(number: int, body: dict[str, Any]) -> list[dict[str, Any]]:
        """A turn of two model requests (a tool call between them); a post lands during the first."""
        if not body.get("tools"):  # Claude Code's side request that names the session
            return [text("Work session")]
        if "Start the work" not in messages_text(body):
            return [text("Ready.")]
        if '"tool_result"' not in messages_text(body):
            posted.append(post(env, "note: also cover the empty input"))
            wait_until(lambda: pushed_count(env) >= 1, "the push to be sent")
            return [tool_use(f"{RELAY_TOOLS}__list_channels", {}, f"list{number}")]
        return [text("Done.")]

    with interactive_claude(tmp_path, working) as (tmux, standin, env):
        tmux.keys("Start the work", "Enter")
        wait_until(lambda: "Done." in tmux.screen(), "the end of the turn", tmux.screen)
    assert standin.errors == []
    turn = [messages_text(body) for body in standin.requests if body.get("tools")]
    assert len(turn) == 2  # the pushed message rode along in the turn; it started no turn of its own
    assert "note: also cover the empty input" not in turn[0]
    assert channel_tag(posted[0]) in turn[1] and "note: also cover the empty input" in turn[1]
