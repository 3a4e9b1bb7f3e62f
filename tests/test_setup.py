"""``relay setup claude|codex``: the generated registration, and --apply on temporary home folders.

Format expectations, from the clients' current docs:
* Claude Code settings (https://code.claude.com/docs/en/hooks): ``hooks.<Event>`` is a list of groups
  ``{"matcher"?: str, "hooks": [{"type": "command", "command": str, "timeout"?: seconds}]}``; events
  used here: Stop, SessionStart, UserPromptSubmit. Registration: ``claude mcp add --transport stdio
  --scope <local|project|user> <name> -- <command> [args...]``.
* Codex config (https://developers.openai.com/codex/mcp): ``[mcp_servers.<name>]`` with ``command``
  (string), ``args`` (list of strings), ``startup_timeout_sec`` / ``tool_timeout_sec`` (seconds; 10 and
  60 by default) and ``default_tools_approval_mode`` (auto, prompt or approve).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest
import tomlkit
from click.testing import CliRunner

from relay_stdio.cli import main
from shared.waiting import MAX_TIMEOUT_S

DOCUMENTED_EVENTS = {
    "SessionStart", "UserPromptSubmit", "PreToolUse", "PermissionRequest", "PostToolUse", "Notification",
    "Stop", "SubagentStop", "PreCompact", "SessionEnd",
}  # fmt: skip

CODEX_BEFORE = """# my Codex settings
model = "gpt-5-codex"  # keep this comment

[mcp_servers.docs]
command = "npx"
args = ["-y", "docs-mcp"]

[profiles.fast]
model = "o4-mini"
"""


def assert_valid_hooks(hooks: dict[str, Any]) -> None:
    assert set(hooks) <= DOCUMENTED_EVENTS
    for groups in hooks.values():
        assert isinstance(groups, list)
        for group in groups:
            assert set(group) <= {"matcher", "hooks"} and isinstance(group.get("matcher", ""), str)
            for entry in group["hooks"]:
                assert entry["type"] == "command" and isinstance(entry["command"], str)
                assert set(entry) <= {"type", "command", "timeout"}
                assert isinstance(entry.get("timeout", 1), int) and entry.get("timeout", 1) > 0


def assert_valid_codex_server(table: dict[str, Any], data_dir: Path) -> None:
    documented = {"command", "args", "env", "env_vars", "cwd", "startup_timeout_sec", "tool_timeout_sec",
                  "enabled", "required", "default_tools_approval_mode"}  # fmt: skip
    assert set(table) <= documented
    command = Path(table["command"])
    assert command.is_absolute() and os.access(command, os.X_OK)
    assert all(isinstance(arg, str) for arg in table["args"])
    assert table["args"] == ["--sender", "codex", "--data-dir", str(data_dir)]
    assert table["tool_timeout_sec"] >= MAX_TIMEOUT_S  # the longest wait_for_messages fits
    assert table["startup_timeout_sec"] > 0
    assert table["default_tools_approval_mode"] in {"auto", "prompt", "approve"}


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("CODEX_HOME", raising=False)
    monkeypatch.setenv("CLAUDE_CODEX_DATA_DIR", str(tmp_path / "data"))
    return home


@pytest.fixture
def fake_claude(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A ``claude`` first on PATH that records its arguments."""
    bindir, calls = tmp_path / "bin", tmp_path / "claude-calls.jsonl"
    bindir.mkdir()
    script = bindir / "claude"
    body = f"import json, sys\nopen({str(calls)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n"
    script.write_text(f"#!{sys.executable}\n{body}")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    return calls


def invoke(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output + (result.stderr or "")
    return result.stdout


def test_setup_claude_prints_the_registration_and_hooks(home: Path, tmp_path: Path) -> None:
    out = invoke("setup", "claude", "--target", "proj-y")
    add_line = next(line for line in out.splitlines() if line.startswith("claude mcp add"))
    words = add_line.split()
    assert words[:9] == ["claude", "mcp", "add", "--transport", "stdio", "--scope", "local", "relay", "--"]
    assert Path(words[9]).is_absolute() and words[9].endswith("relay-stdio")
    assert words[10:] == ["--sender", "claude", "--data-dir", str(tmp_path / "data")]
    hooks = json.loads(out[out.index("{") : out.rindex("}") + 1])["hooks"]
    assert_valid_hooks(hooks)
    stop = hooks["Stop"][0]["hooks"][0]
    assert "hook claude-stop --target proj-y --identity claude --from codex --wait 540" in stop["command"]
    assert stop["timeout"] > 540


def test_apply_claude_merges_hooks_keeps_the_users_and_backs_up(
    home: Path, tmp_path: Path, fake_claude: Path
) -> None:
    settings = home / ".claude" / "settings.json"
    settings.parent.mkdir()
    before = {
        "model": "opus",
        "hooks": {
            "Stop": [{"hooks": [{"type": "command", "command": "notify-send done"}]}],
            "PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "check.sh"}]}],
        },
    }
    settings.write_text(json.dumps(before))
    invoke("setup", "claude", "--scope", "user", "--apply")
    invoke("setup", "claude", "--scope", "user", "--apply", "--wait", "120")  # again: replaces, no duplicates
    after = json.loads(settings.read_text())
    assert after["model"] == "opus"
    assert_valid_hooks(after["hooks"])
    assert after["hooks"]["PreToolUse"] == before["hooks"]["PreToolUse"]
    stops = after["hooks"]["Stop"]
    assert stops[0] == before["hooks"]["Stop"][0] and len(stops) == 2
    assert "--wait 120" in stops[1]["hooks"][0]["command"]
    assert len(after["hooks"]["UserPromptSubmit"]) == len(after["hooks"]["SessionStart"]) == 1
    backups = sorted(settings.parent.glob("settings.json.bak-*"))
    assert len(backups) == 2 and json.loads(backups[0].read_text()) == before
    calls = [json.loads(line) for line in fake_claude.read_text().splitlines()]
    assert calls[0] == ["mcp", "remove", "--scope", "user", "relay"]
    assert calls[1][:8] == ["mcp", "add", "--transport", "stdio", "--scope", "user", "relay", "--"]


def test_apply_claude_local_scope_writes_the_projects_local_settings(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "nowhere"))  # no claude on PATH: print the command instead
    project = tmp_path / "project"
    project.mkdir()
    out = invoke("setup", "claude", "--apply", "--project-dir", str(project))
    assert "claude is not on PATH" in out and "claude mcp add --transport stdio --scope local relay" in out
    written = json.loads((project / ".claude" / "settings.local.json").read_text())
    assert_valid_hooks(written["hooks"])


def test_apply_claude_refuses_to_touch_broken_settings(home: Path, fake_claude: Path) -> None:
    settings = home / ".claude" / "settings.json"
    settings.parent.mkdir()
    settings.write_text('{"hooks": ')
    result = CliRunner().invoke(main, ["setup", "claude", "--scope", "user", "--apply"])
    assert result.exit_code == 1 and "is not valid JSON" in result.stderr
    assert settings.read_text() == '{"hooks": ' and not list(settings.parent.glob("*.bak-*"))


def test_setup_codex_prints_a_valid_block(home: Path, tmp_path: Path) -> None:
    out = invoke("setup", "codex")
    block = out[out.index("[mcp_servers.relay]") : out.index("# Or register")]
    parsed = tomlkit.parse(block).unwrap()
    assert_valid_codex_server(parsed["mcp_servers"]["relay"], tmp_path / "data")
    assert "codex mcp add relay -- " in out
    relay = Path(sys.executable).with_name("relay")
    loop = f"{relay} --data-dir {tmp_path / 'data'} codex-auto-review --target proj-x --from claude"
    assert loop in out.splitlines()


def test_apply_codex_merges_without_clobbering_and_backs_up(home: Path, tmp_path: Path) -> None:
    config = home / ".codex" / "config.toml"
    config.parent.mkdir()
    config.write_text(CODEX_BEFORE)
    invoke("setup", "codex", "--apply")
    text = config.read_text()
    assert text.startswith(CODEX_BEFORE.split("[profiles.fast]")[0])  # comments and order kept
    parsed = tomlkit.parse(text).unwrap()
    assert parsed["model"] == "gpt-5-codex" and parsed["profiles"] == {"fast": {"model": "o4-mini"}}
    assert parsed["mcp_servers"]["docs"] == {"command": "npx", "args": ["-y", "docs-mcp"]}
    assert_valid_codex_server(parsed["mcp_servers"]["relay"], tmp_path / "data")
    (backup,) = config.parent.glob("config.toml.bak-*")
    assert backup.read_text() == CODEX_BEFORE
    # A key the user added to our table survives a second --apply, which changes nothing else.
    config.write_text(
        text.replace(
            'default_tools_approval_mode = "approve"',
            'default_tools_approval_mode = "approve"\nenabled = true',
        )
    )
    invoke("setup", "codex", "--apply")
    again = tomlkit.parse(config.read_text()).unwrap()
    assert again["mcp_servers"]["relay"]["enabled"] is True
    assert {k: v for k, v in again["mcp_servers"]["relay"].items() if k != "enabled"} == parsed[
        "mcp_servers"
    ]["relay"]
    # Nothing changed, so nothing was written and no second backup made.
    assert len(list(config.parent.glob("config.toml.bak-*"))) == 1


def test_apply_codex_honours_codex_home_and_creates_the_file(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    codex_home = tmp_path / "codex-home"
    monkeypatch.setenv("CODEX_HOME", str(codex_home))
    out = invoke("setup", "codex", "--apply")
    assert f"written to {codex_home / 'config.toml'}" in out and "backup" not in out
    parsed = tomlkit.parse((codex_home / "config.toml").read_text()).unwrap()
    assert_valid_codex_server(parsed["mcp_servers"]["relay"], tmp_path / "data")


def test_apply_codex_refuses_to_touch_broken_toml(home: Path) -> None:
    config = home / ".codex" / "config.toml"
    config.parent.mkdir()
    config.write_text("[mcp_servers\n")
    result = CliRunner().invoke(main, ["setup", "codex", "--apply"])
    assert result.exit_code == 1 and "is not valid TOML" in result.stderr
    assert config.read_text() == "[mcp_servers\n"


def test_setup_claude_channels_subscribes_the_server_and_prints_the_launch_command(
    home: Path, tmp_path: Path, fake_claude: Path
) -> None:
    out = invoke("setup", "claude", "--target", "proj-y", "--channels")
    add_line = next(line for line in out.splitlines() if line.startswith("claude mcp add"))
    assert add_line.split()[10:] == [
        "--sender",
        "claude",
        "--data-dir",
        str(tmp_path / "data"),
        "--channel",
        "proj-y",
    ]
    assert "\nclaude --dangerously-load-development-channels server:relay\n" in out
    # What real Claude Code 2.1.332 needs beyond the flag (tests/e2e/test_claude_channels.py found it).
    assert "DISABLE_TELEMETRY or CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC" in out
    applied = invoke("setup", "claude", "--target", "proj-y", "--channels", "--apply", "--no-hooks")
    assert "claude --dangerously-load-development-channels server:relay" in applied
    registered = [json.loads(line) for line in fake_claude.read_text().splitlines()]
    assert registered[-1][-2:] == ["--channel", "proj-y"]


CODEX_EVENTS = {"SessionStart", "UserPromptSubmit", "Stop"}


def test_apply_codex_writes_hooks_json_next_to_config_and_keeps_the_users_hooks(
    home: Path, tmp_path: Path
) -> None:
    hooks_json = home / ".codex" / "hooks.json"
    hooks_json.parent.mkdir()
    mine = {"hooks": {"Stop": [{"hooks": [{"type": "command", "command": "notify-send done"}]}]}}
    hooks_json.write_text(json.dumps(mine))
    out = invoke("setup", "codex", "--apply", "--target", "team", "--peer", "ada", "--wait", "30")
    assert f"Codex hooks written to {hooks_json}" in out
    assert "Codex runs only hooks you have trusted" in out and "--trust-hooks" in out
    hooks = json.loads(hooks_json.read_text())["hooks"]
    assert set(hooks) == CODEX_EVENTS
    assert_valid_hooks(hooks)  # Codex's hooks.json has Claude Code's settings shape
    assert hooks["Stop"][0] == mine["hooks"]["Stop"][0]
    relay = f"{Path(sys.executable).with_name('relay')} --data-dir {tmp_path / 'data'}"
    stop = hooks["Stop"][1]["hooks"][0]
    assert stop["command"] == f"{relay} hook codex-stop --target team --identity codex --from ada --wait 30"
    assert stop["timeout"] == 90
    for event in ("SessionStart", "UserPromptSubmit"):
        command = hooks[event][0]["hooks"][0]["command"]
        assert command == f"{relay} hook codex-context --target team --identity codex"
    # Applying again replaces the relay's hooks instead of adding a second set.
    invoke("setup", "codex", "--apply", "--target", "team", "--peer", "ada", "--wait", "30")
    assert json.loads(hooks_json.read_text())["hooks"] == hooks


def test_apply_codex_no_hooks_writes_only_the_server(home: Path) -> None:
    out = invoke("setup", "codex", "--apply", "--no-hooks")
    assert not (home / ".codex" / "hooks.json").exists() and "trusted" not in out


def test_trust_hooks_needs_apply_and_hooks(home: Path) -> None:
    for args in (["--trust-hooks"], ["--apply", "--no-hooks", "--trust-hooks"]):
        result = CliRunner().invoke(main, ["setup", "codex", *args])
        assert result.exit_code == 2 and "--trust-hooks trusts the hooks --apply writes" in result.stderr
    assert not (home / ".codex").exists()


def test_rewake_adds_the_async_waiter_and_the_stop_hook_stops_waiting(home: Path, fake_claude: Path) -> None:
    invoke("setup", "claude", "--apply", "--scope", "user", "--rewake")
    hooks = json.loads((home / ".claude" / "settings.json").read_text())["hooks"]
    for event in ("SessionStart", "Stop"):
        (waiter,) = [e for g in hooks[event] for e in g["hooks"] if " hook claude-rewake " in e["command"]]
        assert waiter["asyncRewake"] is True and waiter["type"] == "command"
        assert waiter["command"].endswith("--target proj-x --identity claude --from codex --lifetime 3600")
        assert waiter["timeout"] > 3600
    (stop,) = [e for g in hooks["Stop"] for e in g["hooks"] if " hook claude-stop " in e["command"]]
    assert stop["command"].endswith("--wait 0")
    # --remove knows the waiter too.
    invoke("setup", "claude", "--remove", "--scope", "user")
    assert not (home / ".claude" / "settings.json").exists()
