"""``relay hook claude-rewake`` as Claude Code runs an asyncRewake hook: a real background process with the
hook input on stdin. It wakes on a post (exit 2, the framed message on stderr), a second copy for the
same session takes over from the first, it ends with its lifetime, and none is left behind when the
process that started it (standing in for Claude Code) is gone.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shared.trust import untrusted_framing
from tests.e2e.conftest import child_env, relay_cli

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

HANG_GUARD_S = 60


def hook_input(session: str) -> str:
    return json.dumps(
        {"session_id": session, "hook_event_name": "Stop", "stop_hook_active": False, "cwd": "/"}
    )


def rewake(env: dict[str, str], session: str, *extra: str) -> subprocess.Popen[str]:
    argv = [*relay_cli(), "hook", "claude-rewake", "--target", "proj-x", "--from", "codex", *extra]
    proc = subprocess.Popen(
        argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdin is not None
    proc.stdin.write(hook_input(session))
    proc.stdin.close()
    proc.stdin = None  # handed over, as Claude Code does; communicate() then only reads
    return proc


def pid_files(data: Path) -> dict[int, Path]:
    found = {}
    for path in (data / "hooks").glob("claude-rewake-*.pid"):
        try:
            found[int(path.read_text())] = path
        except (OSError, ValueError):
            continue
    return found


def wait_until(condition: object, what: str) -> None:
    deadline = time.monotonic() + HANG_GUARD_S
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.05)


def post(env: dict[str, str], text: str, sender: str = "codex") -> int:
    done = subprocess.run(
        [*relay_cli(), "post", "proj-x", text, "--sender", sender, "--json"],
        env=env, capture_output=True, text=True, check=True, timeout=HANG_GUARD_S,
    )  # fmt: skip
    return int(json.loads(done.stdout)["id"])


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return child_env(tmp_path, CLAUDE_CODEX_DATA_DIR=str(tmp_path / "data"))


def test_it_wakes_the_session_on_the_next_post_and_not_on_what_was_already_there(
    env: dict[str, str], tmp_path: Path
) -> None:
    post(env, "already unread: the Stop hook's to hand over")
    waiter = rewake(env, "s-1")
    wait_until(lambda: waiter.pid in pid_files(tmp_path / "data"), "the waiter names itself")
    time.sleep(0.5)
    assert waiter.poll() is None  # the message that was already there does not wake it
    post(env, "claude", sender="claude")  # nor does the session's own post
    new = post(env, "verdict: approve")
    out, err = waiter.communicate(timeout=HANG_GUARD_S)
    assert waiter.returncode == 2 and out == ""
    assert f"### #{new} codex" in err and "verdict: approve" in err and "already unread" not in err
    assert untrusted_framing("proj-x", ["codex via cli"]) in err
    assert pid_files(tmp_path / "data") == {}  # it cleaned up after itself


def test_a_second_waiter_for_the_session_takes_over_from_the_first(
    env: dict[str, str], tmp_path: Path
) -> None:
    first = rewake(env, "s-1")
    wait_until(lambda: first.pid in pid_files(tmp_path / "data"), "the first waiter names itself")
    other_session = rewake(env, "s-2")
    second = rewake(env, "s-1")
    wait_until(lambda: first.poll() is not None, "the first waiter leaves")
    assert first.returncode == 0 and first.communicate() == ("", "")
    wait_until(
        lambda: {second.pid, other_session.pid} <= set(pid_files(tmp_path / "data")), "both name themselves"
    )
    post(env, "for whoever waits")
    for waiter in (second, other_session):  # the other session has its own waiter, untouched
        _, err = waiter.communicate(timeout=HANG_GUARD_S)
        assert waiter.returncode == 2 and "for whoever waits" in err


def test_it_ends_with_its_lifetime_waking_nobody(env: dict[str, str], tmp_path: Path) -> None:
    waiter = rewake(env, "s-1", "--lifetime", "1")
    assert waiter.communicate(timeout=HANG_GUARD_S) == ("", "") and waiter.returncode == 0
    assert pid_files(tmp_path / "data") == {}


def test_none_is_left_behind_when_the_process_that_started_it_is_gone(
    env: dict[str, str], tmp_path: Path
) -> None:
    # A stand-in for Claude Code: starts the hook through a shell in the background, as Claude Code
    # does, and is then killed.
    command = " ".join(
        [*relay_cli(), "hook", "claude-rewake", "--target", "proj-x", "--from", "codex", "--lifetime", "600"]
    )
    script = (
        "import subprocess, sys, time\n"
        f"p = subprocess.Popen(['sh', '-c', {command!r} + ' <<EOF\\n{hook_input('s-1')}\\nEOF'])\n"
        "time.sleep(600)\n"
    )
    claude = subprocess.Popen([sys.executable, "-c", script], env=env)
    wait_until(lambda: pid_files(tmp_path / "data"), "the waiter names itself")
    (waiter_pid,) = pid_files(tmp_path / "data")
    os.kill(claude.pid, signal.SIGKILL)
    claude.wait()
    wait_until(lambda: not alive(waiter_pid), "the waiter notices that Claude Code is gone and exits")
    assert pid_files(tmp_path / "data") == {}
