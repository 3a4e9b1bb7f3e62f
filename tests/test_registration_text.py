"""One registration truth: relay-web's banner (and so scripts/run.sh) prints what `relay setup` writes."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from relay_stdio.cli import main
from relay_web.__main__ import registration_help
from shared.config import resolve_config

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("CODEX_HOME", raising=False)
    monkeypatch.setenv("CLAUDE_CODEX_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def setup_output(*args: str) -> list[str]:
    result = CliRunner().invoke(main, ["setup", *args])
    assert result.exit_code == 0, result.output
    return [line.strip() for line in result.stdout.splitlines()]


def test_the_banner_shows_the_exact_claude_command_and_codex_block_relay_setup_writes(store: Path) -> None:
    banner = [line.strip() for line in registration_help(resolve_config()).splitlines()]
    claude_add = next(line for line in setup_output("claude") if line.startswith("claude mcp add"))
    assert claude_add in banner and claude_add.endswith(f"--sender claude --data-dir {store}")
    codex = setup_output("codex")
    block = codex[codex.index("[mcp_servers.relay]") :]
    block = block[: block.index("")]
    start = banner.index("[mcp_servers.relay]")
    assert banner[start : start + len(block)] == block
    assert any(line.endswith(f"--data-dir {store} setup claude --apply") for line in banner)
    assert any(line.endswith(f"--data-dir {store} setup codex --apply") for line in banner)


def test_no_weaker_registration_is_left_in_the_scripts_or_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
    run_sh = (ROOT / "scripts" / "run.sh").read_text()
    assert "relay setup claude --apply" in readme and "relay setup codex --apply" in readme
    for text in (readme, run_sh):
        assert "claude mcp add relay -- relay-stdio" not in text
        assert 'args = ["--sender", "codex"]' not in text
