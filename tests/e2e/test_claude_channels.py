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
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.claude_code import HANG_GUARD_S
from tests.e2e.conftest import child_env, relay_stdio_command

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
