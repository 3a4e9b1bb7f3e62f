"""Everything the relay creates is the user's alone (folders 0700, files 0600) whatever the umask.

Real programs (relay post, relay-stdio, relay-web, relay watch, relay hook, relay check --repair)
build a store under umask 022 and 000; an older store with 0755/0644 modes is tightened at the start
of each program, which says so in one line; and, when the test may switch users (root), another local
user can neither read a channel nor hold a lock file's flock to stall posts.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from tests.e2e.conftest import child_env, relay_cli, relay_stdio_command
from tests.e2e.web_server import running_relay_web
from tests.reliability import count

NOBODY = 65534
TIGHTENED = "relay: WARNING made the store private: "


@pytest.fixture(params=[0o022, 0o000], ids=["umask-022", "umask-000"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    """Run the test (and every program it starts, which inherit it) under this umask."""
    old = os.umask(request.param)
    try:
        yield request.param
    finally:
        os.umask(old)


def relay(
    data_dir: Path, home: Path, *args: str, stdin: str = "", **env: str
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [*relay_cli(), *args],
        input=stdin,
        env=child_env(home, CLAUDE_CODEX_DATA_DIR=str(data_dir), **env),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode in (0, 1), done.stderr  # 1: relay check found (and repaired) a problem
    return done


def modes(root: Path) -> dict[str, int]:
    """Path relative to ``root`` (itself ".") -> permission bits, for every entry; links not followed."""
    found = {".": stat.S_IMODE(root.lstat().st_mode)}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder, name)
            found[str(path.relative_to(root))] = stat.S_IMODE(path.lstat().st_mode)
    return found


def assert_private(root: Path) -> dict[str, int]:
    found = modes(root)
    wrong = {
        path: oct(mode)
        for path, mode in found.items()
        if mode != (0o700 if (root / path).is_dir() else 0o600)
    }
    assert wrong == {}, wrong
    return found


@pytest.mark.slow
@pytest.mark.anyio
async def test_every_path_the_programs_create_is_private_whatever_the_umask(
    umask: int, tmp_path: Path
) -> None:
    data_dir = tmp_path / "data" / "relay"  # two missing levels: parents the relay creates count too
    home = tmp_path / "home"
    relay(data_dir, home, "post", "t", "from the CLI", "--sender", "ada")
    server = StdioServerParameters(
        command=relay_stdio_command()[0],
        args=[*relay_stdio_command()[1:], "--data-dir", str(data_dir), "--sender", "agent"],
        env=child_env(home),
    )
    async with Client(server) as client:
        assert not (await client.call_tool("post_message", {"target": "u", "text": "over MCP"})).is_error
        fetched = await client.call_tool("fetch_messages", {"target": "t"})  # saves a read position
        assert [m["text"] for m in fetched.structured_content["messages"]] == ["from the CLI"]  # type: ignore[index]
    with running_relay_web(home, data_dir) as (base, _):
        body = json.dumps({"target": "w", "sender": "web", "text": "over HTTP"}).encode()
        request = urllib.request.Request(
            f"{base}/api/messages", body, {"Content-Type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            assert answer.status == 201
    watched = relay(data_dir, home, "watch", "t", "--from", "ada", "--exec", "true", "--once", "--since", "0")
    assert watched.returncode == 0, watched.stderr
    stop = json.dumps({"session_id": "s1", "hook_event_name": "Stop", "stop_hook_active": False})
    assert (
        '"decision": "block"'
        in relay(data_dir, home, "hook", "claude-stop", "--target", "u", stdin=stop).stdout
    )
    with (data_dir / "channels" / "t.jsonl").open("ab") as channel:
        channel.write(b"a hand edit that is not JSON\n")
    assert "quarantine" in relay(data_dir, home, "check", "--repair").stdout
    found = assert_private(tmp_path / "data")
    for made in ("channels/t.jsonl", "locks/t.lock", "cursors/agent.json", "watch", "hooks", "log"):
        assert made in {p[len("relay/") :] for p in found}, made
    assert any(".__claude_codex.lock" in p for p in found) and any("quarantine-" in p for p in found)
    count("permissions.paths_checked", len(found))


def _older_store(data_dir: Path, home: Path) -> int:
    """A store as earlier versions left it: folders 0755, files 0644 (the log lock files 0755)."""
    relay(data_dir, home, "post", "t", "before the upgrade", "--sender", "ada")
    (data_dir / "watch").mkdir()
    (data_dir / "watch" / "t--ada.json").write_text('{"position": 1}')
    changed = 0
    for path in [data_dir, *data_dir.rglob("*")]:
        path.chmod(0o755 if path.is_dir() or path.name.startswith(".__") else 0o644)
        changed += 1
    return changed


def _start(program: str, data_dir: Path, home: Path) -> str:
    """Start ``program`` on ``data_dir`` and return what it wrote on stderr."""
    if program == "relay-web":
        with running_relay_web(home, data_dir):
            pass
        (stderr_file,) = home.glob("relay-web-*.stderr")
        stderr = stderr_file.read_text()
        stderr_file.unlink()
        return stderr
    if program == "relay-stdio":  # stdin at its end: it prepares the store, then stops
        command = [*relay_stdio_command(), "--data-dir", str(data_dir)]
        done = subprocess.run(
            command, input="", capture_output=True, text=True, timeout=60, env=child_env(home)
        )
        assert done.stdout == ""  # the MCP wire stays clean
        return done.stderr
    return relay(data_dir, home, "post", "t", "after the upgrade").stderr


@pytest.mark.parametrize("program", ["relay post", "relay-stdio", "relay-web"])
def test_an_older_open_store_is_made_private_at_start_and_the_user_is_told(
    tmp_path: Path, program: str
) -> None:
    data_dir, home = tmp_path / "data", tmp_path / "home"
    changed = _older_store(data_dir, home)
    stderr = _start(program, data_dir, home)
    lines = [line for line in stderr.splitlines() if line.startswith(TIGHTENED)]
    assert len(lines) == 1, stderr
    assert f"in {data_dir} (other local users could read them)" in lines[0]
    counted = re.search(r"(\d+) folder\(s\) set to 0700 and (\d+) file\(s\) to 0600", lines[0])
    assert counted is not None and int(counted[1]) + int(counted[2]) == changed, lines[0]
    assert_private(data_dir)
    again = _start(program, data_dir, home)  # once tightened, nothing more is said
    assert TIGHTENED not in again, again
    count("permissions.older_stores_tightened")


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A folder other users may enter (pytest's own tmp folders are private to root)."""
    where = Path(tempfile.mkdtemp(prefix="relay-perms-"))
    where.chmod(0o755)
    try:
        yield where
    finally:
        shutil.rmtree(where)


INTRUDER = """
import fcntl, os, sys
os.setgid(int(sys.argv[1])); os.setuid(int(sys.argv[1]))
held = []
for path in sys.argv[2:]:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        continue
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    held.append(path)
print("opened:", *held, flush=True)
sys.stdin.read()
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="switching to another local user needs root")
def test_another_local_user_can_neither_read_the_store_nor_stall_posts(shared_tmp: Path) -> None:
    data_dir, home = shared_tmp / "data", shared_tmp / "home"
    old = os.umask(0o022)
    try:
        relay(data_dir, home, "post", "t", "a private conversation", "--sender", "ada")
    finally:
        os.umask(old)
    files = [str(p) for p in data_dir.rglob("*") if p.is_file()]
    assert any(p.endswith("t.jsonl") for p in files) and any(p.endswith("t.lock") for p in files)
    with subprocess.Popen(
        [sys.executable, "-c", INTRUDER, str(NOBODY), *files],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as intruder:
        assert intruder.stdin is not None and intruder.stdout is not None
        opened = intruder.stdout.readline().split()  # "opened:" and what it holds
        # While the intruder holds whatever it could open, a post must still go through.
        posted = relay(
            data_dir, home, "post", "t", "still works", "--sender", "ada", CLAUDE_CODEX_LOCK_TIMEOUT_S="1"
        )
        intruder.stdin.close()
        intruder.wait(30)
    assert posted.returncode == 0 and "posted #2" in posted.stdout, posted.stderr
    assert opened == ["opened:"]
    count("permissions.files_refused_to_another_user", len(files))


def test_log_files_kept_outside_the_data_dir_are_made_private_but_their_folder_is_left_alone(
    tmp_path: Path,
) -> None:
    data_dir, home, logs = tmp_path / "data", tmp_path / "home", tmp_path / "logs"
    env = {"CLAUDE_CODEX_LOG_PATH": str(logs / "tools.log"), "CLAUDE_CODEX_LOG_MAX_BYTES": "600"}
    for i in range(6):  # enough tool-log lines to rotate at 600 bytes
        relay(data_dir, home, "post", "t", f"message {i}", **env)
    made = sorted(p.name for p in logs.iterdir())
    assert {"tools.log", "tools.log.1", ".__tools.lock"} <= set(made), made
    (logs / "notes.txt").write_text("the user's own file")
    for path in [logs, *logs.iterdir()]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    stderr = relay(data_dir, home, "post", "t", "after", **env).stderr
    assert f"0 folder(s) set to 0700 and {len(made)} file(s) to 0600" in stderr, stderr
    assert {p.name: oct(stat.S_IMODE(p.stat().st_mode)) for p in logs.iterdir()} == {
        **{name: "0o600" for name in made},
        "notes.txt": "0o644",
    }
    assert stat.S_IMODE(logs.stat().st_mode) == 0o755
