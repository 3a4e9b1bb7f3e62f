"""wait_for_messages across real processes: relay-stdio driven by the official Python client over stdio."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters

from tests.e2e.conftest import child_env, relay_cli, relay_stdio_command

pytestmark = [pytest.mark.anyio, pytest.mark.e2e, pytest.mark.slow]

HANG_GUARD_S = 60  # ends a test that would otherwise hang; nothing here asserts durations


def server(home: Path, data: Path, sender: str) -> StdioServerParameters:
    command = relay_stdio_command()
    return StdioServerParameters(
        command=command[0],
        args=[*command[1:], "--sender", sender, "--data-dir", str(data)],
        env=child_env(home),
        cwd=str(home),
    )


def post_from_another_process(home: Path, data: Path, target: str, sender: str, text: str) -> dict[str, Any]:
    done = subprocess.run(
        [*relay_cli(), "--data-dir", str(data), "post", target, text, "--sender", sender, "--json"],
        capture_output=True,
        env=child_env(home),
        timeout=HANG_GUARD_S,
        check=True,
    )
    record: dict[str, Any] = json.loads(done.stdout)
    return record


async def test_a_post_from_another_process_wakes_the_waiter(tmp_path: Path) -> None:
    data = tmp_path / "data"
    waiting_started = anyio.Event()
    results: list[Any] = []

    async def progress(value: float, total: float | None, message: str | None) -> None:
        waiting_started.set()

    async with Client(server(tmp_path, data, "claude")) as claude:

        async def wait() -> None:
            results.append(
                await claude.call_tool(
                    "wait_for_messages", {"target": "proj-x", "timeout_s": 600}, progress_callback=progress
                )
            )

        with anyio.fail_after(HANG_GUARD_S):
            async with anyio.create_task_group() as tg:
                tg.start_soon(wait)
                await waiting_started.wait()  # the server is inside the wait before anyone posts
                await anyio.to_thread.run_sync(
                    post_from_another_process, tmp_path, data, "proj-x", "claude", "my own packet"
                )
                posted = await anyio.to_thread.run_sync(
                    post_from_another_process, tmp_path, data, "proj-x", "codex", "verdict: approve"
                )
    got = results[0].structured_content
    assert [(m["id"], m["sender"], m["text"]) for m in got["messages"]] == [
        (posted["id"], "codex", "verdict: approve")
    ]
    assert got["latest_id"] == posted["id"] == 2


async def test_progress_notifications_reach_a_client_that_asked_for_them(tmp_path: Path) -> None:
    seen: list[tuple[float, float | None, str | None]] = []

    async def progress(value: float, total: float | None, message: str | None) -> None:
        seen.append((value, total, message))

    async with Client(server(tmp_path, tmp_path / "data", "claude")) as claude:
        with anyio.fail_after(HANG_GUARD_S):
            result = await claude.call_tool(
                "wait_for_messages", {"target": "proj-x", "timeout_s": 8}, progress_callback=progress
            )
    assert result.structured_content == {"messages": [], "latest_id": 0, "has_more": False, "since_id": 0}
    # One notification when the wait starts and one every 5 s: at 0 and 5 within an 8 s wait.
    assert len(seen) >= 2, seen
    values = [value for value, _, _ in seen]
    assert values == sorted(values) and len(set(values)) == len(values)  # progress always increases
    assert all(total == 8 for _, total, _ in seen)
    assert all(message and "proj-x" in message for _, _, message in seen)


async def test_a_cancelled_call_stops_waiting_and_the_server_stays_free(tmp_path: Path) -> None:
    data = tmp_path / "data"
    started = anyio.Event()

    async def progress(value: float, total: float | None, message: str | None) -> None:
        started.set()

    async with Client(server(tmp_path, data, "claude")) as claude:
        with anyio.fail_after(HANG_GUARD_S):
            async with anyio.create_task_group() as tg:

                async def wait() -> None:
                    arguments = {"target": "proj-x", "timeout_s": 600}
                    await claude.call_tool("wait_for_messages", arguments, progress_callback=progress)

                tg.start_soon(wait)
                await started.wait()
                tg.cancel_scope.cancel()  # the client sends notifications/cancelled for the call
            listing = await claude.call_tool("list_channels", {})
            assert not listing.is_error
            posted = await anyio.to_thread.run_sync(
                post_from_another_process, tmp_path, data, "proj-x", "codex", "after the cancel"
            )
            # The cancelled wait consumed nothing: a new wait returns the message at once.
            again = await claude.call_tool("wait_for_messages", {"target": "proj-x", "timeout_s": 600})
    assert [(m["id"], m["sender"], m["text"]) for m in again.structured_content["messages"]] == [
        (posted["id"], "codex", "after the cancel")
    ]
    log = (data / "log" / "claude_codex.log").read_text()
    outcomes = [
        json.loads(line.split("wait_for_messages ", 1)[1])["outcome"]
        for line in log.splitlines()
        if "] wait_for_messages " in line or " wait_for_messages {" in line
    ]
    assert outcomes == ["cancelled", "woken"]


def test_a_closed_client_ends_the_wait_and_the_process(tmp_path: Path) -> None:
    messages = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "codex-mcp-client", "version": "1"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {
                "name": "wait_for_messages",
                "arguments": {"target": "proj-x", "timeout_s": 600},
                "_meta": {"progressToken": "w1"},
            },
        },
    ]
    with subprocess.Popen(
        [*relay_stdio_command(), "--data-dir", str(tmp_path / "data")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=child_env(tmp_path),
        cwd=tmp_path,
    ) as proc:
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        proc.stdin.write((json.dumps(messages[0]) + "\n").encode())
        proc.stdin.flush()
        assert json.loads(proc.stdout.readline())["id"] == 1
        proc.stdin.write("".join(json.dumps(m) + "\n" for m in messages[1:]).encode())
        proc.stdin.flush()
        first = json.loads(proc.stdout.readline())  # the wait has begun: its first progress notification
        assert first["method"] == "notifications/progress"
        assert first["params"]["progressToken"] == "w1"
        proc.stdin.close()  # the client goes away in the middle of a 600 s wait
        assert proc.wait(timeout=HANG_GUARD_S) == 0, proc.stderr.read().decode()
        rest = proc.stdout.read()
    # No result was ever sent for the abandoned call; whatever came out is protocol.
    for line in rest.decode().splitlines():
        assert json.loads(line)["jsonrpc"] == "2.0"
