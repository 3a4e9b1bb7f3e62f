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

import json
import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

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
        start_new_session=True,  # its own process group: a test that fails can end it and its hooks
    )


def end(proc: subprocess.Popen[str]) -> None:
    """End a Claude Code this test started if it still runs, with what else runs in its process group
    (its hooks: a test that failed half-way leaves nothing behind), and close its pipes."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=HANG_GUARD_S)
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()


class StreamSession:
    """``claude -p --input-format stream-json``: a session that stays open for more input, the mode in
    which Claude Code runs asyncRewake hooks in the background; its stdout events are read in a thread."""

    def __init__(self, env: dict[str, str]) -> None:
        argv = [str(node_bin("claude")), "-p", "--input-format", "stream-json"]
        argv += ["--output-format", "stream-json", "--verbose", "--allowedTools", RELAY_TOOLS]
        self.proc = subprocess.Popen(
            argv,
            env=env,
            cwd=workdir(env),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.events.put(json.loads(line))

    def say(self, words: str) -> None:
        """Type a prompt into the session."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(
            json.dumps({"type": "user", "message": {"role": "user", "content": words}}) + "\n"
        )
        self.proc.stdin.flush()

    def next_result(self) -> dict[str, Any]:
        """The ``result`` event that ends the next turn (the session is idle after it)."""
        while True:
            event = self.events.get(timeout=HANG_GUARD_S)
            if event.get("type") == "result":
                return event


def wait_until(condition: Callable[[], Any], what: str, shown: Callable[[], str] = str) -> Any:
    """Poll ``condition`` until it is true (and return its value), or fail naming ``what`` and ``shown()``."""
    deadline = time.monotonic() + HANG_GUARD_S
    while not (found := condition()):
        assert time.monotonic() < deadline, f"never: {what} {shown()}"
        time.sleep(0.05)
    return found
