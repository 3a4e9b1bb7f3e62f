"""``relay watch`` as real processes: batches, no overlap under a flood, restarts, failures, one watcher."""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import child_env, relay_cli

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

HANG_GUARD_S = 120  # ends a stuck test; nothing here asserts how long anything takes

# The command under watch: records start and end of each run, holds the run open for a moment so that
# an overlapping second run would show, and fails while the file $FAIL_TIMES holds a positive count.
RECORDER = """
import json, os, sys, time
from pathlib import Path
names = ("RELAY_TARGET", "RELAY_SENDER", "RELAY_SINCE_ID", "RELAY_LATEST_ID", "RELAY_IDS")
env = {k: os.environ[k] for k in names}
marks = Path(os.environ["MARKS"])
def mark(event, **extra):
    with marks.open("a") as f:
        f.write(json.dumps({"event": event, "pid": os.getpid(), **env, **extra}) + "\\n")
mark("start")
time.sleep(float(os.environ.get("HOLD_S", "0.05")))
fail = Path(os.environ.get("FAIL_TIMES", "/nonexistent"))
left = int(fail.read_text()) if fail.exists() else 0
if left > 0:
    fail.write_text(str(left - 1))
    mark("end", status=3)
    sys.exit(3)
mark("end", status=0)
"""

POSTER = """
import sys
from shared.storage.files.store import FileStore
store = FileStore(sys.argv[1])
for i in range(int(sys.argv[3])):
    store.append("proj-x", sys.argv[2], f"{sys.argv[2]} message {i}")
"""


class Setup:
    def __init__(self, tmp_path: Path) -> None:
        self.data = tmp_path / "data"
        self.marks = tmp_path / "marks.jsonl"
        self.recorder = tmp_path / "recorder.py"
        self.recorder.write_text(RECORDER)
        self.env = child_env(tmp_path, CLAUDE_CODEX_DATA_DIR=str(self.data), MARKS=str(self.marks))
        self.state = self.data / "watch" / "proj-x--claude.json"
        self.home = tmp_path

    def watch_args(self, *extra: str) -> list[str]:
        command = f"{sys.executable} {self.recorder}"
        return [*relay_cli(), "watch", "proj-x", "--from", "claude", "--exec", command, *extra]

    def start(self, *extra: str, **env: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            self.watch_args(*extra), env={**self.env, **env}, stderr=subprocess.PIPE, text=True, cwd=self.home
        )
        self.wait_until(lambda: self.state.exists(), proc)
        return proc

    def run_once(self, *extra: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.watch_args("--once", *extra),
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=HANG_GUARD_S,
            cwd=self.home,
        )

    def post(self, sender: str, count: int) -> None:
        subprocess.run(
            [sys.executable, "-c", POSTER, str(self.data), sender, str(count)],
            env=self.env,
            check=True,
            timeout=HANG_GUARD_S,
        )

    def records(self) -> list[dict[str, Any]]:
        path = self.data / "channels" / "proj-x.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def marks_list(self) -> list[dict[str, Any]]:
        return (
            [json.loads(line) for line in self.marks.read_text().splitlines()] if self.marks.exists() else []
        )

    def position(self) -> int:
        value: int = json.loads(self.state.read_text())["position"]
        return value

    @staticmethod
    def wait_until(condition: Any, proc: subprocess.Popen[str] | None = None) -> None:
        deadline = time.monotonic() + HANG_GUARD_S
        while not condition():
            if proc is not None and proc.poll() is not None:
                raise AssertionError(f"the watcher exited early: {proc.communicate()}")
            assert time.monotonic() < deadline, "condition never became true"
            time.sleep(0.02)


def stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=HANG_GUARD_S)
    assert proc.returncode == 128 + signal.SIGTERM, err
    return err


def batches(marks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pair start/end marks, asserting that no run started before the previous one ended."""
    runs = []
    for start, end in zip(marks[::2], marks[1::2], strict=True):
        assert (start["event"], end["event"]) == ("start", "end"), marks
        assert start["pid"] == end["pid"] and start["RELAY_IDS"] == end["RELAY_IDS"]
        runs.append({**start, "status": end["status"]})
    return runs


def test_a_flood_gives_one_run_per_batch_never_overlapping_and_every_id_once(tmp_path: Path) -> None:
    s = Setup(tmp_path)
    watcher = s.start()
    posters = [
        subprocess.Popen([sys.executable, "-c", POSTER, str(s.data), sender, "60"], env=s.env)
        for sender in ("claude", "claude", "claude", "ada")
    ]
    for poster in posters:
        assert poster.wait(timeout=HANG_GUARD_S) == 0
    claude_ids = [r["id"] for r in s.records() if r["sender"] == "claude"]
    assert len(claude_ids) == 180
    s.wait_until(lambda: s.position() == claude_ids[-1], watcher)
    stop(watcher)

    runs = batches(s.marks_list())
    assert all(run["status"] == 0 and run["RELAY_SENDER"] == "claude" for run in runs)
    # Each batch starts where the previous one ended, and together they cover every id exactly once.
    assert runs[0]["RELAY_SINCE_ID"] == "0"
    for before, after in itertools.pairwise(runs):
        assert after["RELAY_SINCE_ID"] == before["RELAY_LATEST_ID"]
    handled = [int(i) for run in runs for i in run["RELAY_IDS"].split()]
    assert handled == claude_ids
    for run in runs:
        assert run["RELAY_LATEST_ID"] == run["RELAY_IDS"].split()[-1]


def test_the_position_is_kept_across_restarts(tmp_path: Path) -> None:
    s = Setup(tmp_path)
    s.post("claude", 2)  # before any watcher: on the first start only newer messages count
    watcher = s.start()
    stop(watcher)
    assert s.position() == 2
    s.post("claude", 2)  # ids 3 and 4 arrive while nobody watches
    first = s.run_once()
    assert first.returncode == 0, first.stderr
    s.post("ada", 1)
    s.post("claude", 1)  # id 6
    second = s.run_once()
    assert second.returncode == 0, second.stderr
    runs = batches(s.marks_list())
    assert [(r["RELAY_SINCE_ID"], r["RELAY_LATEST_ID"], r["RELAY_IDS"]) for r in runs] == [
        ("2", "4", "3 4"),
        ("4", "6", "6"),
    ]
    assert s.position() == 6


def test_a_failing_command_is_retried_with_the_next_batch_and_nothing_is_lost(tmp_path: Path) -> None:
    s = Setup(tmp_path)
    fail = tmp_path / "fail-times"
    fail.write_text("1")
    watcher = s.start(FAIL_TIMES=str(fail))
    s.post("claude", 1)
    s.wait_until(lambda: len(s.marks_list()) == 2, watcher)  # the failed run is over
    assert s.position() == 0  # not saved after a failure
    s.post("claude", 1)
    s.wait_until(lambda: s.position() == 2, watcher)
    err = stop(watcher)
    runs = batches(s.marks_list())
    assert [(r["RELAY_SINCE_ID"], r["RELAY_IDS"], r["status"]) for r in runs] == [
        ("0", "1", 3),
        ("0", "1 2", 0),
    ]
    assert "exit status 3" in err and "run again" in err


def test_once_exits_with_the_commands_status_and_a_rerun_retries_the_same_batch(tmp_path: Path) -> None:
    s = Setup(tmp_path)
    fail = tmp_path / "fail-times"
    fail.write_text("1")
    s.post("claude", 2)
    failed = s.run_once("--since", "0", FAIL_TIMES=str(fail))
    assert failed.returncode == 3, failed.stderr
    assert s.position() == 0
    retried = s.run_once(FAIL_TIMES=str(fail))
    assert retried.returncode == 0, retried.stderr
    runs = batches(s.marks_list())
    assert [(r["RELAY_SINCE_ID"], r["RELAY_IDS"], r["status"]) for r in runs] == [
        ("0", "1 2", 3),
        ("0", "1 2", 0),
    ]
    assert s.position() == 2


def test_a_second_watcher_on_the_same_state_file_refuses(tmp_path: Path) -> None:
    s = Setup(tmp_path)
    watcher = s.start()
    try:
        second = s.run_once("--timeout", "1")
    finally:
        stop(watcher)
    assert second.returncode == 1
    assert "already running" in second.stderr and str(s.state) in second.stderr
    assert s.marks_list() == []


def test_timeout_with_no_batch_exits_124(tmp_path: Path) -> None:
    s = Setup(tmp_path)
    done = s.run_once("--timeout", "0.3")
    assert done.returncode == 124, done.stderr
    assert "no new message from claude" in done.stderr
