import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from relay_stdio.cli import main


@pytest.fixture
def runner(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("CLAUDE_CODEX_DATA_DIR", str(data_dir))
    return CliRunner()


def test_post_and_tail_round_trip(runner: CliRunner) -> None:
    result = runner.invoke(main, ["post", "proj-x", "hello **world**", "--sender", "ada"])
    assert result.exit_code == 0, result.output
    assert result.output == "posted #1 to proj-x as ada\n"
    result = runner.invoke(main, ["post", "proj-x", "-"], input="from stdin\n")
    assert result.exit_code == 0 and "posted #2" in result.output
    result = runner.invoke(main, ["tail", "proj-x", "--json"])
    records = [json.loads(line) for line in result.output.splitlines() if line]
    assert [(r["id"], r["sender"], r["text"], r["source"]) for r in records] == [
        (1, "ada", "hello **world**", "cli"),
        (2, records[1]["sender"], "from stdin\n", "cli"),
    ]
    result = runner.invoke(main, ["tail", "proj-x", "--since", "1"])
    assert "#2 [" in result.output and "#1 [" not in result.output
    result = runner.invoke(main, ["tail", "proj-x", "-n", "1"])
    assert "#2 [" in result.output and "#1 [" not in result.output


def test_tail_since_pages_through_long_history(runner: CliRunner, data_dir: Path) -> None:
    from shared.storage.files.store import FileStore

    store = FileStore(data_dir)
    for i in range(450):
        store.append("t", "a", f"m{i}")
    result = runner.invoke(main, ["tail", "t", "--since", "0", "--json"])
    assert [json.loads(line)["id"] for line in result.output.splitlines()] == list(range(1, 451))


def test_post_with_a_bad_target_is_a_one_line_error(runner: CliRunner) -> None:
    result = runner.invoke(main, ["post", "../../etc", "x"])
    assert result.exit_code == 1
    assert result.output.startswith("Error: invalid target") and result.output.count("\n") == 1


def test_post_sender_defaults_to_the_configured_sender(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLAUDE_CODEX_SENDER", "person")
    runner.invoke(main, ["post", "t", "x"])
    result = runner.invoke(main, ["tail", "t", "--json"])
    assert json.loads(result.output)["sender"] == "person"


def test_channels_lists_counts_and_last_sender(runner: CliRunner) -> None:
    runner.invoke(main, ["post", "zeta", "x", "--sender", "codex"])
    result = runner.invoke(main, ["channels"])
    assert result.exit_code == 0
    row = next(line for line in result.output.splitlines() if line.startswith("zeta"))
    assert row.split()[:3] == ["zeta", "1", "codex"]
    listing = json.loads(runner.invoke(main, ["channels", "--json"]).output)
    assert listing["channels"] == ["claude", "codex", "proj-x", "zeta"]


def test_config_shows_each_value_and_its_source(runner: CliRunner, data_dir: Path) -> None:
    result = runner.invoke(main, ["config"])
    assert result.exit_code == 0
    assert f"data_dir                  {data_dir}  [env CLAUDE_CODEX_DATA_DIR]" in result.output
    shown = json.loads(runner.invoke(main, ["--sender", "me", "config", "--json"]).output)
    assert shown["sender"] == {"value": "me", "source": "option --sender"}
    assert shown["port"] == {"value": "8010", "source": "default"}


def test_broken_config_is_reported_with_key_and_source(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLAUDE_CODEX_PORT", "abc")
    result = runner.invoke(main, ["config"])
    assert result.exit_code == 1
    assert "port = 'abc' from env CLAUDE_CODEX_PORT" in result.output


def test_help_works_without_a_valid_config(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAUDE_CODEX_PORT", "abc")
    result = runner.invoke(main, ["--help"])
    assert result.exit_code == 0
    for command in ("post", "tail", "channels", "config"):
        assert command in result.output


def test_data_dir_option_is_accepted(tmp_path: Path) -> None:
    """click hands path options over as Path objects; the resolver takes them like strings."""
    data = tmp_path / "elsewhere"
    result = CliRunner().invoke(main, ["--data-dir", str(data), "post", "t", "hi", "--sender", "ada"])
    assert result.exit_code == 0, result.output
    assert (data / "channels" / "t.jsonl").is_file()
