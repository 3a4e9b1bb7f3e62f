"""``relay tail --follow`` as a real process: every message posted by other processes, once, in order."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from shared.storage.files.store import FileStore
from tests.e2e.conftest import child_env, relay_cli

pytestmark = pytest.mark.e2e

HANG_GUARD_S = 60  # ends a stuck test; nothing here asserts how long anything takes


def _as_from_a_terminal() -> None:
    """Let Ctrl+C (SIGINT) reach the child even when the test runs as a background job, whose
    children start with SIGINT ignored (as on CI)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextmanager
def _killed_at_the_end(proc: subprocess.Popen[str]) -> Iterator[None]:
    """A failing check must not leave the test waiting for a tail that never ends on its own."""
    try:
        yield
    finally:
        if proc.poll() is None:
            proc.kill()


def test_tail_follow_prints_each_new_message_once_in_order_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = FileStore(data)
    for i in range(1, 4):
        store.append("proj-x", "before", f"old {i}")
    env = child_env(tmp_path, CLAUDE_CODEX_DATA_DIR=str(data))
    command = [*relay_cli(), "tail", "proj-x", "--follow", "--json", "-n", "2"]
    with (
        subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            preexec_fn=_as_from_a_terminal,
        ) as proc,  # fmt: skip
        _killed_at_the_end(proc),
    ):
        stdout = proc.stdout
        assert stdout is not None
        lines: queue.Queue[str] = queue.Queue()

        def pump() -> None:
            for line in stdout:
                lines.put(line)

        threading.Thread(target=pump, daemon=True).start()

        def next_record() -> dict[str, str]:
            return json.loads(lines.get(timeout=HANG_GUARD_S))

        assert [next_record()["text"] for _ in range(2)] == ["old 2", "old 3"]
        # Posts in several rounds from other processes, some while tail sleeps, some in bursts.
        expected = []
        for round_ in range(5):
            posts = [f"round {round_} post {k}" for k in range(round_ + 1)]
            poster = subprocess.run(
                [*relay_cli(), "post", "proj-x", "\n".join(posts), "--sender", "poster"],
                env=env, capture_output=True, text=True, timeout=HANG_GUARD_S,
            )  # fmt: skip
            assert poster.returncode == 0, poster.stderr
            for k, text in enumerate(posts):
                if k:  # the rest of the round straight into the store, a burst of appends
                    store.append("proj-x", "burst", text)
            expected += ["\n".join(posts), *posts[1:]]
            got = [next_record() for _ in range(len(posts))]
            assert [r["text"] for r in got] == expected[-len(posts) :]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(HANG_GUARD_S) == 0
        assert proc.stderr is not None and proc.stderr.read() == ""
    records = [json.loads(line) for line in store.channel_path("proj-x").read_bytes().splitlines()]
    assert [r["text"] for r in records[3:]] == expected
    assert lines.empty()  # nothing printed twice
