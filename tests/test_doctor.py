"""``relay doctor`` on a good set-up (exit 0) and on each broken one it names, with real relay-stdio servers.

The client configs are written by ``relay setup --apply`` (Codex) and in Claude Code's documented
``~/.claude.json`` format (``claude mcp add`` is not run here; tests/e2e/test_client_configs.py uses the
real ``claude`` and ``codex`` programs). Each check starts the registered server, as the client would,
and calls list_channels through a real MCP client.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from relay_stdio.cli import main
from relay_stdio.setup.doctor import CODEX_DEFAULT_ENV, launch_env
from relay_stdio.setup.registered import Registration
from shared.clientsetup import Installation
from shared.config import resolve_config

pytestmark = pytest.mark.e2e  # every check starts real relay-stdio servers


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    (home / "project").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("CODEX_HOME", raising=False)
    monkeypatch.setenv("CLAUDE_CODEX_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CLAUDE_CODEX_PORT", "1")  # no viewer answers there: a note, not a problem
    monkeypatch.setenv("PATH", os.pathsep.join(["/usr/bin", "/bin"]))  # no claude, no codex
    monkeypatch.chdir(home / "project")
    return home


def relay(*args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args), env=env)
    return result.exit_code, result.stdout


def register_claude(home: Path, argv: list[str]) -> None:
    """What `claude mcp add --scope local relay -- ARGV` writes (Claude Code's ~/.claude.json format)."""
    entry = {"type": "stdio", "command": argv[0], "args": argv[1:], "env": {}}
    state = {"projects": {str(home / "project"): {"mcpServers": {"relay": entry}}}}
    (home / ".claude.json").write_text(json.dumps(state))


def good_setup(home: Path) -> None:
    inst = Installation.find(resolve_config())
    register_claude(home, inst.server_argv("claude"))
    assert relay("setup", "claude", "--apply")[0] == 0  # the hooks (the command is printed: no claude)
    assert relay("setup", "codex", "--apply")[0] == 0


def lines(out: str) -> dict[str, str]:
    """Check name -> its line."""
    return {
        line.split(": ")[0][6:]: line for line in out.splitlines() if line[:4] in ("ok  ", "FAIL", "note")
    }


def test_a_good_setup_passes_every_check(home: Path) -> None:
    good_setup(home)
    code, out = relay("doctor")
    found = lines(out)
    assert code == 0, out
    assert not [line for line in found.values() if line.startswith("FAIL")]
    claude = next(line for name, line in found.items() if name.startswith("claude server"))
    assert "starts and answers list_channels (3 channels)" in claude and "identity claude" in claude
    assert found["same store"].startswith("ok") and str(home.parent / "data") in found["same store"]
    assert found["identities differ"] == "ok    identities differ: claude: claude, codex: codex"
    assert found["claude hooks"].startswith("ok") and "Stop" in found["claude hooks"]
    assert found["waiting notifier"].startswith("ok") and found["store permissions"].startswith("ok")
    assert found["viewer"].startswith("note") and out.rstrip().endswith("no problems found")


def test_a_codex_config_pointing_at_another_data_dir_fails_the_same_store_check(
    home: Path, tmp_path: Path
) -> None:
    good_setup(home)
    relay("setup", "codex", "--apply", env={"CLAUDE_CODEX_DATA_DIR": str(tmp_path / "elsewhere")})
    code, out = relay("doctor")
    line = lines(out)["same store"]
    assert code == 1
    assert line.startswith("FAIL") and f"codex: {tmp_path / 'elsewhere'}" in line and "-> fix: " in line


def test_a_missing_stop_hook_fails_the_hooks_check(home: Path) -> None:
    good_setup(home)
    settings = home / "project" / ".claude" / "settings.local.json"
    data = json.loads(settings.read_text())
    del data["hooks"]["Stop"]
    settings.write_text(json.dumps(data))
    code, out = relay("doctor")
    assert code == 1
    assert lines(out)["claude hooks"].startswith("FAIL  claude hooks: no relay Stop hook")
    assert "-> fix: relay setup claude --apply" in lines(out)["claude hooks"]


def test_hooks_not_in_claude_codes_format_fail_the_hooks_check(home: Path) -> None:
    good_setup(home)
    settings = home / "project" / ".claude" / "settings.local.json"
    settings.write_text(json.dumps({"hooks": {"Stop": {"command": "relay hook claude-stop"}}}))
    code, out = relay("doctor")
    assert code == 1 and '"hooks.Stop" is not a list' in lines(out)["claude hooks"]


def test_a_server_that_cannot_start_fails_with_what_it_said(home: Path, tmp_path: Path) -> None:
    good_setup(home)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    inst = Installation.find(resolve_config({"data_dir": str(blocker)}))
    register_claude(home, inst.server_argv("claude"))
    code, out = relay("doctor")
    line = next(line for name, line in lines(out).items() if name.startswith("claude server"))
    assert code == 1 and line.startswith("FAIL") and "does not start as claude starts it" in line
    assert f"'{blocker}' is a file" in line  # relay-stdio's own last line on stderr, passed on


def test_a_registered_command_that_does_not_exist_fails(home: Path, tmp_path: Path) -> None:
    good_setup(home)
    register_claude(home, [str(tmp_path / "gone" / "relay-stdio"), "--sender", "claude"])
    code, out = relay("doctor")
    line = next(line for name, line in lines(out).items() if name.startswith("claude server"))
    assert code == 1 and line.startswith("FAIL") and "relay setup claude --apply" in line


def test_two_agents_with_one_identity_fail(home: Path) -> None:
    good_setup(home)
    inst = Installation.find(resolve_config())
    register_claude(home, inst.server_argv("codex"))
    code, out = relay("doctor")
    assert code == 1 and lines(out)["identities differ"].startswith("FAIL")


def test_a_client_without_the_relay_registered_is_a_problem(home: Path) -> None:
    relay("setup", "codex", "--apply")
    (home / ".claude.json").write_text("{}")  # Claude Code is installed, but nothing is registered
    code, out = relay("doctor")
    assert code == 1
    assert lines(out)["claude registration"] == (
        "FAIL  claude registration: the relay is not registered  -> fix: relay setup claude --apply"
    )


def test_codex_gets_only_its_default_variables_plus_env_vars_and_env() -> None:
    reg = Registration("codex", "user", Path("c.toml"), "x", env={"A": "1"}, env_vars=("KEEP",))
    env = {"HOME": "/h", "PATH": "/bin", "CLAUDE_CODEX_DATA_DIR": "/d", "KEEP": "k", "OTHER": "o"}
    assert launch_env(reg, env) == {"HOME": "/h", "PATH": "/bin", "KEEP": "k", "A": "1"}
    assert "CLAUDE_CODEX_DATA_DIR" not in CODEX_DEFAULT_ENV
    claude = Registration("claude", "local", Path("s.json"), "x", env={"A": "1"})
    assert launch_env(claude, env) == {**env, "A": "1"}
