"""Messages that help: each names what was wrong and how to fix it, where the old one misled."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from relay_stdio.cli import main
from shared.config import resolve_config
from shared.errors import ConfigError


def relay(data_dir: Path, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, ["--data-dir", str(data_dir), *args])
    return result.exit_code, result.stdout, result.stderr


def test_tail_of_a_channel_that_does_not_exist_names_the_close_ones(data_dir: Path) -> None:
    assert relay(data_dir, "post", "review-loop", "hello")[0] == 0
    code, out, err = relay(data_dir, "tail", "reveiw-loop")
    assert code == 1 and out == ""
    assert "there is no channel 'reveiw-loop'; did you mean 'review-loop'?" in err
    code, _, err = relay(data_dir, "tail", "zzz")
    assert code == 1 and "the channels are: claude, codex, proj-x, review-loop" in err


def test_tail_of_an_empty_seed_channel_is_not_an_error(data_dir: Path) -> None:
    assert relay(data_dir, "tail", "proj-x") == (0, "", "")


def test_relay_check_names_an_unterminated_string_without_a_doubled_at(data_dir: Path) -> None:
    channels = data_dir / "channels"
    channels.mkdir(parents=True)
    good = {"id": 1, "ts": 1.0, "target": "t", "sender": "a", "text": "x"}
    (channels / "t.jsonl").write_text(json.dumps(good) + '\n{"id": 2, "text": "cut\n')
    code, out, _ = relay(data_dir, "check")
    assert code == 1 and "Unterminated string starting at column 19" in out
    assert "at at" not in out


def test_a_config_file_with_an_unterminated_string_is_reported_once(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text('{"sender": "cut')
    with pytest.raises(ConfigError) as caught:
        resolve_config({"config": path})
    assert "Unterminated string starting at line 1 column 12" in str(caught.value)
    assert "at at" not in str(caught.value)


def test_a_codex_config_cut_off_inside_a_value_is_named_as_such(tmp_path: Path) -> None:
    config = tmp_path / ".codex" / "config.toml"
    config.parent.mkdir()
    config.write_text('model = "o3"\nbad = [\n')
    result = CliRunner().invoke(main, ["setup", "codex", "--apply"], env={"CODEX_HOME": str(config.parent)})
    assert result.exit_code == 1
    assert "the file ends in the middle of a value (look for an unclosed [, { or quote)" in result.stderr
    assert "\\x00" not in result.stderr and "col 0" not in result.stderr
    assert config.read_text() == 'model = "o3"\nbad = [\n'


def test_a_data_dir_that_is_a_file_is_called_a_file(tmp_path: Path) -> None:
    blocker = tmp_path / "relay-data"
    blocker.write_text("not a folder")
    result = CliRunner().invoke(main, ["channels"], env={"CLAUDE_CODEX_DATA_DIR": str(blocker)})
    assert result.exit_code == 1
    assert f"data dir {blocker} is a file, not a folder; choose another with --data-dir" in result.stderr
    assert "Not a directory" not in result.stderr and blocker.read_text() == "not a folder"
