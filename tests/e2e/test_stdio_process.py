"""``relay-stdio`` as a real subprocess, driven by the official Python SDK client over stdio."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from tests.e2e.conftest import child_env, relay_stdio_command

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]


def params(home: Path, cwd: Path, *args: str, **env: str) -> StdioServerParameters:
    command = relay_stdio_command()
    cwd.mkdir(parents=True, exist_ok=True)
    return StdioServerParameters(
        command=command[0], args=[*command[1:], *args], env=child_env(home, **env), cwd=str(cwd)
    )


async def test_real_process_serves_all_tools(tmp_path: Path) -> None:
    async with Client(params(tmp_path, tmp_path / "proj", "--sender", "claude")) as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        assert {"post_message", "fetch_messages", "list_channels"} <= names
        posted = await client.call_tool("post_message", {"target": "proj-x", "text": "packet"})
        assert posted.structured_content["posted"] == 1
        fetched = await client.call_tool("fetch_messages", {"target": "proj-x", "since_id": 0})
        assert fetched.structured_content["messages"][0]["sender"] == "claude"
        bad = await client.call_tool("post_message", {"target": "../x", "text": "hi"})
        assert bad.is_error and "letters, digits" in bad.content[0].text


async def test_two_agents_in_different_folders_meet_in_the_default_store(tmp_path: Path) -> None:
    """Like Claude Code (in a project folder) and Codex (in its home), with no data dir configured."""
    home = tmp_path / "home"
    claude = params(home, tmp_path / "work" / "project-a", "--sender", "claude")
    codex = params(home, home, CLAUDE_CODEX_SENDER="codex")
    async with Client(claude) as one, Client(codex) as two:
        sent = await one.call_tool("post_message", {"target": "proj-x", "text": "please review"})
        got = await two.call_tool("fetch_messages", {"target": "proj-x"})
        assert [(m["id"], m["sender"], m["text"]) for m in got.structured_content["messages"]] == [
            (sent.structured_content["posted"], "claude", "please review")
        ]
        reply = await two.call_tool("post_message", {"target": "proj-x", "text": "LGTM"})
        back = await one.call_tool("fetch_messages", {"target": "proj-x", "since_id": 1})
        assert [(m["id"], m["sender"], m["text"]) for m in back.structured_content["messages"]] == [
            (reply.structured_content["posted"], "codex", "LGTM")
        ]
    store = home / ".local" / "share" / "claude-codex-relay" / "channels" / "proj-x.jsonl"
    assert [json.loads(line)["text"] for line in store.read_text().splitlines()] == ["please review", "LGTM"]
    # Messages survive the restart of both servers.
    async with Client(params(home, tmp_path, "--sender", "someone")) as three:
        got = await three.call_tool("fetch_messages", {"target": "proj-x"})
        assert [m["text"] for m in got.structured_content["messages"]] == ["please review", "LGTM"]


def _initialize(client_name: str, version: str) -> bytes:
    message = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": version,
            "capabilities": {},
            "clientInfo": {"name": client_name, "version": "1"},
        },
    }
    return (json.dumps(message) + "\n").encode()


@pytest.mark.parametrize(
    ("client_name", "version", "identity"),
    [("claude-code", "2025-11-25", "claude"), ("codex-mcp-client", "2025-06-18", "codex")],
)
def test_stdout_carries_only_protocol_and_the_process_exits_when_stdin_closes(
    tmp_path: Path, client_name: str, version: str, identity: str
) -> None:
    initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    call = {
        "jsonrpc": "2.0",
        "id": 2,
        "method": "tools/call",
        "params": {"name": "post_message", "arguments": {"target": "proj-x", "text": "hello"}},
    }
    with subprocess.Popen(
        relay_stdio_command(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=child_env(tmp_path),
        cwd=tmp_path,
    ) as proc:
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        proc.stdin.write(_initialize(client_name, version))
        proc.stdin.flush()
        replies = [json.loads(proc.stdout.readline())]
        proc.stdin.write((json.dumps(initialized) + "\n" + json.dumps(call) + "\n").encode())
        proc.stdin.flush()
        replies.append(json.loads(proc.stdout.readline()))
        proc.stdin.close()  # the client goes away: the server must exit by itself, cleanly
        assert proc.wait(timeout=20) == 0, proc.stderr.read().decode()
        rest = proc.stdout.read()
    assert rest == b""  # every stdout line was a JSON-RPC message; nothing else was written there
    assert all(reply["jsonrpc"] == "2.0" for reply in replies)
    assert replies[0]["result"]["protocolVersion"] == version
    assert replies[0]["result"]["serverInfo"]["name"] == "claude-codex-relay"
    posted = replies[1]["result"]["structuredContent"]
    assert posted["message"]["sender"] == identity


def test_bad_config_is_one_line_on_stderr_and_nothing_on_stdout(tmp_path: Path) -> None:
    done = subprocess.run(
        relay_stdio_command(),
        input=b"",
        capture_output=True,
        env=child_env(tmp_path, CLAUDE_CODEX_PORT="abc"),
        cwd=tmp_path,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stdout == b""
    assert (
        done.stderr.decode().strip()
        == "relay-stdio: port = 'abc' from env CLAUDE_CODEX_PORT: expected a whole number"
    )
