"""Running the real Claude Code CLI offline for the e2e tests: against ``MessagesStandin``
(standin_models.py), in a temporary HOME, with the relay registered by ``relay setup claude --apply``,
so the settings, the MCP registration and the hooks are the ones a person gets.

What Claude Code 2.1.332 needs to run with no login and no network (found from its errors and
requests): ``ANTHROPIC_BASE_URL`` (it appends ``/v1/messages``) and any ``ANTHROPIC_API_KEY``; the
autoupdater, telemetry and other traffic switched off. As root it refuses
``--dangerously-skip-permissions``, so ``-p`` runs get an allow rule for the relay's tools
(``--allowedTools mcp__relay``) instead. It offers MCP tools as *deferred* tools (their names in the
prompt, schemas behind ToolSearch), and accepts a direct call of one by name.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.e2e.conftest import relay_cli
from tests.e2e.node_clients import node_bin

RELAY_TOOLS = "mcp__relay"
HANG_GUARD_S = 100


def claude_env(root: Path, base_url: str) -> dict[str, str]:
    """An environment for Claude Code and the relay: a fresh HOME, the stand-in model, one data dir."""
    home = root / "home"
    (home / "work").mkdir(parents=True, exist_ok=True)
    path = os.pathsep.join(
        [str(node_bin("claude").parent), str(Path(relay_cli()[0]).parent), "/usr/bin", "/bin"]
    )
    return {
        "HOME": str(home),
        "PATH": path,
        "LANG": "C.UTF-8",
        "CLAUDE_CODEX_DATA_DIR": str(root / "data"),
        "ANTHROPIC_BASE_URL": base_url,
        "ANTHROPIC_API_KEY": "sk-standin-not-a-key",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_TELEMETRY": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }


def workdir(env: dict[str, str]) -> Path:
    """The project folder Claude Code runs in (``relay setup claude`` writes its local settings there)."""
    return Path(env["HOME"]) / "work"


def run_relay(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    """The relay CLI in the project folder, as a person would run it there."""
    return subprocess.run(
        [*relay_cli(), *argv],
        env=env,
        cwd=workdir(env),
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_S,
        stdin=subprocess.DEVNULL,
    )


def set_up_claude(env: dict[str, str], *extra: str) -> str:
    """``relay setup claude --apply`` for channel proj-x (Claude Code on PATH registers the server)."""
    done = run_relay(env, "setup", "claude", "--apply", "--target", "proj-x", *extra)
    assert done.returncode == 0, done.stderr
    assert "registered with Claude Code" in done.stdout, done.stdout
    return done.stdout


def claude_print(env: dict[str, str], prompt: str, *extra: str) -> subprocess.Popen[str]:
    """``claude -p PROMPT`` started in the project folder with the relay's tools allowed."""
    argv = [str(node_bin("claude")), "-p", prompt, "--allowedTools", RELAY_TOOLS, *extra]
    return subprocess.Popen(
        argv,
        env=env,
        cwd=workdir(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
