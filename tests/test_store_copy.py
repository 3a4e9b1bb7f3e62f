"""``relay store copy`` and ``relay store migrate`` with the real CLI against a real PostgreSQL server."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from shared.storage import open_store
from tests.e2e.conftest import child_env, relay_cli
from tests.pg_cluster import PASSWORD, PgCluster
from tests.test_store_contract import all_records

pytestmark = pytest.mark.slow


def relay(tmp_path: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = child_env(tmp_path, CLAUDE_CODEX_DATA_DIR=str(tmp_path / "local"))
    done = subprocess.run(
        [*relay_cli(), *args], env=env, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL
    )
    if check:
        assert done.returncode == 0, done.stderr
    return done


def everything(location: str) -> tuple[dict[str, list[dict[str, Any]]], dict[str, dict[str, int]]]:
    store = open_store(location)
    channels = {stats.target: all_records(store, stats.target) for stats in store.list_channels()}
    positions = store.positions()
    store.close()
    return channels, positions


def test_copy_files_to_postgres_and_back_keeps_records_and_read_positions(
    tmp_path: Path, pg_url: str
) -> None:
    source = tmp_path / "files-a"
    store = open_store(str(source))
    for i in range(1, 451):
        store.append("proj-x", "claude" if i % 2 else "codex", f"message {i} ✓", source="mcp",
                     reply_to=i - 1 if i > 1 and i % 3 == 0 else None)  # fmt: skip
    store.append("other", "ada", "hello", source="web-ui")
    (source / "channels" / "legacy.jsonl").write_text(
        json.dumps({"id": 1, "ts": 1.5, "target": "legacy", "sender": "old", "text": "x", "tool": [1]}) + "\n"
    )
    store.advance_position("claude", "proj-x", 300)
    store.advance_position("Codex", "other", 1)
    store.close()

    first = relay(tmp_path, "store", "copy", str(source), pg_url)
    assert "copied 452 messages in 3 channels and 2 read positions" in first.stdout
    assert PASSWORD not in first.stdout + first.stderr
    again = relay(tmp_path, "store", "copy", str(source), pg_url)  # idempotent
    assert "copied 0 messages" in again.stdout and "450 already there" in again.stdout

    back = tmp_path / "files-b"
    relay(tmp_path, "store", "copy", pg_url, str(back))
    want, got_pg, got_back = everything(str(source)), everything(pg_url), everything(str(back))
    assert got_pg == want and got_back == want
    assert want[1] == {"claude": {"proj-x": 300}, "codex": {"other": 1}}
    assert open_store(pg_url).append("proj-x", "claude", "after the copy")["id"] == 451


def test_a_role_with_only_the_documented_grants_uses_a_migrated_schema(
    tmp_path: Path, pg_cluster: PgCluster
) -> None:
    db = pg_cluster.new_database()
    pg_cluster.psql(f"CREATE ROLE agent LOGIN PASSWORD '{PASSWORD}'")
    pg_cluster.psql("REVOKE CREATE ON SCHEMA public FROM PUBLIC", db)
    agent_url = pg_cluster.url(db, user="agent")

    refused = relay(tmp_path, "--store", agent_url, "post", "t", "too early", check=False)
    assert refused.returncode == 1
    assert "relay store migrate" in refused.stderr and PASSWORD not in refused.stderr

    migrated = relay(tmp_path, "--store", pg_cluster.url(db), "store", "migrate")
    assert "version none -> 1" in migrated.stdout
    from shared.storage.postgres.schema import GRANTS

    for statement in GRANTS.format(role="agent").splitlines():
        if statement and not statement.startswith("--"):
            pg_cluster.psql(statement, db)
    posted = relay(tmp_path, "--store", agent_url, "post", "t", "hello", "--json")
    assert json.loads(posted.stdout)["id"] == 1
    tail = relay(tmp_path, "--store", agent_url, "tail", "t", "--json")
    assert json.loads(tail.stdout.splitlines()[-1])["text"] == "hello"
    config = relay(tmp_path, "--store", agent_url, "config")
    assert PASSWORD not in config.stdout and "agent:***@127.0.0.1" in config.stdout
