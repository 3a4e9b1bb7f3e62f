"""The real Claude Code and Codex CLIs read what ``relay setup`` writes; ``relay doctor`` checks it; and
``--remove`` leaves their configs as they were.

``claude`` (@anthropic-ai/claude-code) and ``codex`` (@openai/codex) come from tests/e2e/node
(``scripts/test.sh`` installs them); ``claude mcp add|list|remove`` and ``codex mcp list`` work offline
and without a login. Each test runs in its own HOME, so the person's real configs are never touched.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import relay_cli

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

NODE_BIN = Path(__file__).parent / "node" / "node_modules" / ".bin"
SETTINGS_BEFORE = (
    '{\n    "model": "opus",\n  "hooks": {"Stop": [{"hooks": [{"type": "command", "command": "x"}]}]}\n}\n'
)
CODEX_BEFORE = '# mine\nmodel = "o3"  # keep\n\n[mcp_servers.docs]\ncommand = "npx"\nargs = ["-y", "docs"]\n'


def needs(program: str) -> Path:
    path = NODE_BIN / program
    if not path.exists():
        pytest.skip(f"{program} is not installed in tests/e2e/node (scripts/test.sh installs it)")
    return path


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    needs("claude")
    needs("codex")
    home = tmp_path / "home"
    (home / "project" / ".claude").mkdir(parents=True)
    (home / ".codex").mkdir()
    path = os.pathsep.join([str(NODE_BIN), str(Path(relay_cli()[0]).parent), "/usr/bin", "/bin"])
    return {
        "HOME": str(home),
        "PATH": path,
        "LANG": "C.UTF-8",
        "CLAUDE_CODEX_DATA_DIR": str(tmp_path / "data"),
        "CLAUDE_CODEX_PORT": "1",
        "CODEX_HOME": str(home / ".codex"),
        "DISABLE_AUTOUPDATER": "1",
    }


def run(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv), env=env, cwd=Path(env["HOME"]) / "project", capture_output=True, text=True, timeout=120
    )


def relay(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run(env, *relay_cli(), *args)


def claude_servers(env: dict[str, str]) -> dict[str, object]:
    state = json.loads((Path(env["HOME"]) / ".claude.json").read_text())
    project = state.get("projects", {}).get(str(Path(env["HOME"]) / "project"), {})
    return dict(project.get("mcpServers", {}))


def test_setup_apply_is_what_the_real_clients_read_and_doctor_passes(env: dict[str, str]) -> None:
    assert relay(env, "setup", "claude", "--apply").returncode == 0
    # --trust-hooks: relay doctor fails on Codex hooks that Codex would skip as untrusted.
    assert relay(env, "setup", "codex", "--apply", "--trust-hooks").returncode == 0
    listed = run(env, "claude", "mcp", "list")
    assert listed.returncode == 0 and "relay: " in listed.stdout and "Connected" in listed.stdout, listed
    codex = json.loads(run(env, "codex", "mcp", "list", "--json").stdout)
    (entry,) = [server for server in codex if server["name"] == "relay"]
    assert entry["transport"]["args"][-4:] == [
        "--sender",
        "codex",
        "--data-dir",
        env["CLAUDE_CODEX_DATA_DIR"],
    ]
    assert entry["tool_timeout_sec"] >= 600
    doctor = relay(env, "doctor")
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert f"ok    same store: every agent uses {env['CLAUDE_CODEX_DATA_DIR']}" in doctor.stdout


def test_doctor_fails_when_codex_points_at_another_data_dir(env: dict[str, str], tmp_path: Path) -> None:
    relay(env, "setup", "claude", "--apply")
    relay(env, "--data-dir", str(tmp_path / "elsewhere"), "setup", "codex", "--apply")
    doctor = relay(env, "doctor")
    assert doctor.returncode == 1
    assert any(
        line.startswith("FAIL  same store") and str(tmp_path / "elsewhere") in line
        for line in doctor.stdout.splitlines()
    ), doctor.stdout


def test_apply_then_remove_leaves_both_clients_configs_as_they_were(env: dict[str, str]) -> None:
    home = Path(env["HOME"])
    settings = home / "project" / ".claude" / "settings.local.json"
    settings.write_text(SETTINGS_BEFORE)
    config = home / ".codex" / "config.toml"
    config.write_text(CODEX_BEFORE)
    for client in ("claude", "codex"):
        assert relay(env, "setup", client, "--apply").returncode == 0
    assert "relay" in claude_servers(env)
    for client in ("claude", "codex"):
        done = relay(env, "setup", client, "--remove")
        assert done.returncode == 0, done.stderr
    assert settings.read_text() == SETTINGS_BEFORE and config.read_text() == CODEX_BEFORE
    assert claude_servers(env) == {}  # claude's own state file: the server entry is gone
    assert "No MCP servers configured" in run(env, "claude", "mcp", "list").stdout
    codex = json.loads(run(env, "codex", "mcp", "list", "--json").stdout)
    assert [server["name"] for server in codex] == ["docs"]
