"""``relay setup claude|codex --remove`` undoes exactly what ``--apply`` wrote; --apply twice backs up once.

These run ``relay setup`` in-process on temporary home folders; tests/e2e/test_client_configs.py does the
same with the real ``claude`` and ``codex`` programs reading the result.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import tomlkit
from click.testing import CliRunner

from relay_stdio.cli import main

SETTINGS_BEFORE = """{
    "model": "opus",
  "hooks": {"Stop": [{"hooks": [{"type": "command", "command": "notify-send done"}]}],
            "PreToolUse": []}
}
"""
CODEX_BEFORE = """# my Codex settings
model = "gpt-5-codex"  # keep this comment

[mcp_servers.docs]
command = "npx"
args = ["-y", "docs-mcp"]
"""


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("CODEX_HOME", raising=False)
    monkeypatch.setenv("CLAUDE_CODEX_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("PATH", str(tmp_path / "no-clients"))  # no claude: its command is printed
    return home


def relay(*args: str) -> tuple[str, str]:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout, result.stderr


def backups(path: Path) -> list[Path]:
    return sorted(path.parent.glob(f"{path.name}.bak-*"))


def test_apply_then_remove_leaves_the_claude_settings_byte_identical(home: Path) -> None:
    settings = home / ".claude" / "settings.json"
    settings.parent.mkdir()
    settings.write_text(SETTINGS_BEFORE)
    relay("setup", "claude", "--scope", "user", "--apply")
    assert "hook claude-stop" in settings.read_text()
    out, _ = relay("setup", "claude", "--scope", "user", "--remove")
    assert "claude mcp remove --scope user relay" in out and "restored byte for byte" in out
    assert settings.read_text() == SETTINGS_BEFORE
    assert len(backups(settings)) == 2  # before --apply, and before --remove


def test_remove_keeps_hooks_the_user_added_after_apply(home: Path) -> None:
    settings = home / ".claude" / "settings.json"
    settings.parent.mkdir()
    settings.write_text(SETTINGS_BEFORE)
    relay("setup", "claude", "--scope", "user", "--apply")
    data = json.loads(settings.read_text())
    mine = {"type": "command", "command": "say stopped"}
    data["hooks"]["Stop"][-1]["hooks"].append(mine)  # in the relay's own group
    data["theme"] = "dark"
    settings.write_text(json.dumps(data))
    relay("setup", "claude", "--scope", "user", "--remove")
    after = json.loads(settings.read_text())
    before = json.loads(SETTINGS_BEFORE)
    assert after["theme"] == "dark" and after["model"] == "opus"
    assert after["hooks"]["Stop"] == [*before["hooks"]["Stop"], {"hooks": [mine]}]
    assert after["hooks"]["PreToolUse"] == [] and set(after["hooks"]) == {"Stop", "PreToolUse"}
    assert "hook claude-" not in settings.read_text()


def test_remove_deletes_a_settings_file_that_apply_created(home: Path, tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    relay("setup", "claude", "--apply", "--project-dir", str(project))
    settings = project / ".claude" / "settings.local.json"
    assert settings.exists() and backups(settings) == []
    out, _ = relay("setup", "claude", "--remove", "--project-dir", str(project))
    assert not settings.exists() and "which --apply had created" in out
    assert "claude mcp remove --scope local relay" in out


def test_apply_twice_with_nothing_changed_writes_no_new_backup(home: Path) -> None:
    settings = home / ".claude" / "settings.json"
    settings.parent.mkdir()
    settings.write_text(SETTINGS_BEFORE)
    config = home / ".codex" / "config.toml"
    config.parent.mkdir()
    config.write_text(CODEX_BEFORE)
    for _ in range(2):
        relay("setup", "claude", "--scope", "user", "--apply")
        out, _ = relay("setup", "codex", "--apply")
    assert "already up to date (nothing written, no backup)" in out
    assert len(backups(settings)) == 1 and len(backups(config)) == 1


def test_apply_then_remove_leaves_the_codex_config_byte_identical(home: Path) -> None:
    config = home / ".codex" / "config.toml"
    config.parent.mkdir()
    config.write_text(CODEX_BEFORE)
    relay("setup", "codex", "--apply")
    assert "relay" in tomlkit.parse(config.read_text()).unwrap()["mcp_servers"]
    relay("setup", "codex", "--remove")
    assert config.read_text() == CODEX_BEFORE


def test_codex_remove_after_the_user_edited_keeps_their_edit(home: Path) -> None:
    config = home / ".codex" / "config.toml"
    config.parent.mkdir()
    config.write_text(CODEX_BEFORE)
    relay("setup", "codex", "--apply")
    config.write_text(config.read_text().replace('model = "gpt-5-codex"', 'model = "o3"'))
    relay("setup", "codex", "--remove")
    after = tomlkit.parse(config.read_text()).unwrap()
    assert after == {"model": "o3", "mcp_servers": {"docs": {"command": "npx", "args": ["-y", "docs-mcp"]}}}
    assert config.read_text().startswith("# my Codex settings\n")


def test_codex_remove_deletes_a_config_that_apply_created(home: Path) -> None:
    relay("setup", "codex", "--apply")
    config = home / ".codex" / "config.toml"
    assert config.exists()
    relay("setup", "codex", "--remove")
    assert not config.exists()


def test_remove_with_nothing_registered_changes_nothing(home: Path) -> None:
    config = home / ".codex" / "config.toml"
    config.parent.mkdir()
    config.write_text(CODEX_BEFORE)
    out, _ = relay("setup", "codex", "--remove")
    assert "no [mcp_servers.relay] in it" in out and config.read_text() == CODEX_BEFORE
    assert backups(config) == []


def test_applying_both_local_and_user_scope_warns_about_the_double_registration(
    home: Path, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    _, err = relay("setup", "claude", "--scope", "user", "--apply", "--project-dir", str(project))
    assert "warning" not in err
    _, err = relay("setup", "claude", "--apply", "--project-dir", str(project))
    assert "also registered for Claude Code in the user scope (hooks)" in err
    assert "relay setup claude --remove --scope user" in err


def test_apply_and_remove_together_is_a_usage_error(home: Path) -> None:
    result = CliRunner().invoke(main, ["setup", "codex", "--apply", "--remove"])
    assert result.exit_code == 2 and "choose --apply or --remove" in result.stderr
