"""The process-crash promise of docs/storage.md: once a post returns, a kill -9 cannot lose it.

(The power-loss promise of ``fsync: true`` cannot be tested without cutting the power; these tests run
with fsync off and on, and the fsync path is exercised on every post of the second half.)
"""

from __future__ import annotations

import json
import multiprocessing
import subprocess
from pathlib import Path

import pytest

from shared.storage.files.store import FileStore
from tests import fault_workers
from tests.e2e.conftest import child_env, relay_stdio_command
from tests.reliability import count

CRASHES = 20


@pytest.mark.slow
@pytest.mark.parametrize("fsync", [False, True], ids=["fsync-off", "fsync-on"])
def test_a_post_that_returned_survives_an_immediate_kill_9(tmp_path: Path, fsync: bool) -> None:
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["tests.fault_workers"])
    data_dir = tmp_path / "data"
    expected = []
    for i in range(CRASHES):
        text = fault_workers.text_for("crasher", i)
        args = (str(data_dir), "t", text, fsync, i % 2 == 1)
        proc = ctx.Process(target=fault_workers.post_then_die, args=args)
        proc.start()
        proc.join(60)
        assert proc.exitcode == -9  # it died by SIGKILL right after the post returned
        proc.close()
        expected.append(text)
        [last] = FileStore(data_dir).read_last("t", 1)
        assert (last["id"], last["text"]) == (i + 1, text)
    records = [json.loads(line) for line in FileStore(data_dir).channel_path("t").read_bytes().splitlines()]
    assert [r["text"] for r in records] == expected
    count(f"durability.kill9_after_post_{'fsync' if fsync else 'no_fsync'}", CRASHES)


def _rpc(proc: subprocess.Popen[bytes], message: dict[str, object]) -> None:
    assert proc.stdin is not None
    proc.stdin.write((json.dumps(message) + "\n").encode())
    proc.stdin.flush()


@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.parametrize("fsync", ["false", "true"])
def test_relay_stdio_killed_right_after_answering_a_post_keeps_it(tmp_path: Path, fsync: str) -> None:
    data_dir = tmp_path / "data"
    for i in range(3):
        command = [*relay_stdio_command(), "--data-dir", str(data_dir), "--sender", "agent"]
        env = child_env(tmp_path, CLAUDE_CODEX_FSYNC=fsync)
        with subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env
        ) as proc:
            assert proc.stdout is not None
            init = {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"},
            }
            _rpc(proc, {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": init})
            proc.stdout.readline()
            _rpc(proc, {"jsonrpc": "2.0", "method": "notifications/initialized"})
            call = {"name": "post_message", "arguments": {"target": "t", "text": f"survivor {i}"}}
            _rpc(proc, {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": call})
            reply = json.loads(proc.stdout.readline())
            proc.kill()  # the instant the agent has its answer
            proc.wait(30)
        assert reply["result"]["structuredContent"]["posted"] == i + 1
        [last] = FileStore(data_dir).read_last("t", 1)
        assert (last["id"], last["text"]) == (i + 1, f"survivor {i}")
        count("durability.relay_stdio_kill9_after_answer")
