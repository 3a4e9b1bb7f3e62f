"""scripts/review-poll.sh (bash, curl, jq) against a real relay-web process."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.storage.files.store import FileStore
from tests.e2e.web_server import running_relay_web

pytestmark = [pytest.mark.e2e]

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "review-poll.sh"


@pytest.fixture(autouse=True)
def _tools() -> None:
    missing = [tool for tool in ("bash", "curl", "jq") if shutil.which(tool) is None]
    if missing:
        message = f"review-poll.sh needs {', '.join(missing)} (apt-get install {' '.join(missing)})"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[tuple[str, FileStore]]:
    data_dir = tmp_path / "store"
    with running_relay_web(tmp_path / "home", data_dir) as (base, _):
        yield base, FileStore(data_dir)


def poll(base: str, lastfile: Path, rounds: int = 1, **env: str) -> subprocess.CompletedProcess[str]:
    settings = {
        "PATH": os.environ["PATH"],
        "BASE_URL": base,
        "LASTFILE": str(lastfile),
        "INTERVAL": "0",
        "MAX_ROUNDS": str(rounds),
        **env,
    }
    return subprocess.run(
        ["bash", str(SCRIPT)], env=settings, capture_output=True, text=True, timeout=120, check=False
    )


def test_reports_new_messages_of_the_watched_sender_once(
    relay: tuple[str, FileStore], tmp_path: Path
) -> None:
    base, store = relay
    store.append("proj-x", "claude", "Review packet one\n```diff\n-a\n+b\n```")
    store.append("proj-x", "codex", "LGTM")
    store.append("proj-x", "claude", "Packet two")
    store.append("other", "claude", "not this channel")
    lastfile = tmp_path / "last"
    first = poll(base, lastfile)
    assert first.returncode == 0, first.stderr
    assert first.stdout == "new_messages from claude\n#1 [claude] Review packet one\n#3 [claude] Packet two\n"
    assert lastfile.read_text() == "3\n"
    assert poll(base, lastfile).stdout == ""  # nothing new: nothing printed
    store.append("proj-x", "codex", "a question")
    store.append("proj-x", "claude", "answer")
    again = poll(base, lastfile)
    assert again.stdout == "new_messages from claude\n#5 [claude] answer\n"
    assert lastfile.read_text() == "5\n"


def test_target_and_sender_are_configurable(relay: tuple[str, FileStore], tmp_path: Path) -> None:
    base, store = relay
    store.append("review", "claude", "packet")
    store.append("review", "codex", "verdict: approve\ndetails")
    done = poll(base, tmp_path / "last", TARGET="review", WATCH_SENDER="codex")
    assert done.stdout == "new_messages from codex\n#2 [codex] verdict: approve\n"


def test_a_heartbeat_every_third_quiet_round(relay: tuple[str, FileStore], tmp_path: Path) -> None:
    base, _ = relay
    done = poll(base, tmp_path / "last", rounds=6)
    lines = done.stdout.splitlines()
    assert len(lines) == 2 and all(line.startswith("heartbeat ") for line in lines)
    assert "no new messages from claude in proj-x (last #0)" in lines[0]


def test_nothing_is_missed_when_many_arrive_between_rounds(
    relay: tuple[str, FileStore], tmp_path: Path
) -> None:
    base, store = relay
    for i in range(1, 1201):
        store.append("proj-x", "claude" if i % 2 else "codex", f"message {i}\nmore")
    done = poll(base, tmp_path / "last")
    lines = done.stdout.splitlines()
    assert lines[0] == "new_messages from claude"
    assert lines[1:] == [f"#{i} [claude] message {i}" for i in range(1, 1201, 2)]
    assert (tmp_path / "last").read_text() == "1199\n"


def test_lastfile_is_required(tmp_path: Path) -> None:
    done = subprocess.run(
        ["bash", str(SCRIPT)], env={"PATH": os.environ["PATH"]}, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0 and "LASTFILE is required" in done.stderr


def test_an_unreachable_relay_is_reported_and_polling_goes_on(tmp_path: Path) -> None:
    done = poll("http://127.0.0.1:9", tmp_path / "last", rounds=2)
    assert done.returncode == 0 and done.stderr.count("cannot reach http://127.0.0.1:9") == 2


def test_works_with_an_auth_token(tmp_path: Path) -> None:
    data_dir = tmp_path / "store"
    with running_relay_web(tmp_path / "home", data_dir, CLAUDE_CODEX_AUTH_TOKEN="tok-123") as (base, _):
        FileStore(data_dir).append("proj-x", "claude", "secret packet")
        refused = poll(base, tmp_path / "last")
        assert refused.stdout == "" and "answered 401" in refused.stderr
        done = poll(base, tmp_path / "last", AUTH_TOKEN="tok-123")
        assert done.stdout == "new_messages from claude\n#1 [claude] secret packet\n"
