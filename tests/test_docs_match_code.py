"""The docs name what the code has: every config key, every `relay` command, every store folder and
every end-to-end test file, and nothing the code does not have (the issue-13 mismatches, kept fixed)."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from relay_stdio.cli import main
from shared.config import KEYS, resolve_config
from shared.privacy import STORE_FOLDERS

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
LEGACY_KEYS = {"log_max_bytes", "channel_log_max_bytes"}  # accepted, documented as legacy beside *_max_mb


def read(name: str) -> str:
    return (ROOT / name).read_text(encoding="utf-8")


def all_docs() -> str:
    return read("README.md") + "".join(path.read_text(encoding="utf-8") for path in sorted(DOCS.glob("*.md")))


def documented_keys() -> set[str]:
    """The keys of docs/configuration.md's table (rows like ``| `port` | 8010 | ... |``)."""
    keys_section = read("docs/configuration.md").split("## Keys")[1].split("\n## ")[0]
    return set(re.findall(r"^\| `([a-z_]+)` \|", keys_section, flags=re.MULTILINE))


def test_every_config_key_is_documented_and_every_documented_key_exists() -> None:
    table = documented_keys()
    assert set(KEYS) - LEGACY_KEYS <= table, f"undocumented keys: {set(KEYS) - LEGACY_KEYS - table}"
    assert table <= set(KEYS), f"documented but not in shared/config.py: {table - set(KEYS)}"
    text = read("docs/configuration.md")
    assert all(f"`{key}`" in text for key in LEGACY_KEYS)


def test_relay_config_shows_the_documented_keys(tmp_path: Path) -> None:
    shown = {key for key, _, _ in resolve_config({"data_dir": str(tmp_path)}).describe()}
    assert shown <= documented_keys(), f"relay config shows undocumented keys: {shown - documented_keys()}"


def _commands(group: click.Group, prefix: str) -> list[str]:
    found = []
    for name, command in group.commands.items():
        found.append(f"{prefix} {name}")
        if isinstance(command, click.Group):
            found.extend(_commands(command, f"{prefix} {name}"))
    return found


@pytest.mark.parametrize("command", _commands(main, "relay"))
def test_every_relay_command_is_documented(command: str) -> None:
    assert command in all_docs(), f"`{command}` is not named in README.md or docs/"


def test_every_command_the_docs_name_exists() -> None:
    known = {" ".join(c.split()[:2]) for c in _commands(main, "relay")}
    named = set(re.findall(r"`relay ([a-z][a-z-]+)", all_docs()))
    assert {f"relay {name}" for name in named} <= known, named - {k.split()[1] for k in known}


@pytest.mark.parametrize("folder", STORE_FOLDERS)
def test_every_folder_the_relay_makes_is_in_the_storage_layout(folder: str) -> None:
    layout = read("docs/storage.md").split("```")[1]
    assert re.search(rf"^\s+{folder}/", layout, flags=re.MULTILINE), f"{folder}/ missing from storage.md"


def test_every_end_to_end_test_file_is_described_in_testing_md() -> None:
    files = sorted(path.name for path in (ROOT / "tests" / "e2e").glob("test_*.py"))
    text = read("docs/testing.md")
    assert [name for name in files if f"`{name}`" not in text] == []


def test_the_docs_do_not_promise_info_lines_on_stderr() -> None:
    # Only WARNING and above reach stderr (shared/logs.py setup_logging's stderr_level).
    assert "Logs go to stderr" not in read("README.md")
    assert "serving <data_dir> as claude`\nto stderr" not in read("docs/claude.md")
