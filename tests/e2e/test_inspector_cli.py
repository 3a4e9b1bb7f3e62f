"""The MCP Inspector's CLI (npm ``@modelcontextprotocol/inspector``), a client written by others,
against a real ``relay-stdio``: it lists the tools with their schemas and calls each of them.

Every call is a fresh ``mcp-inspector --cli ... -- relay-stdio ...`` process pair, so these tests also
show that messages and read positions survive server restarts.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import relay_stdio_command
from tests.e2e.node_clients import inspector_command

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TOOLS = {"post_message", "fetch_messages", "list_channels"}


class Inspector:
    """Runs the Inspector CLI against ``relay-stdio`` on one data dir."""

    def __init__(self, tmp_path: Path, data_dir: Path) -> None:
        self.command = inspector_command()
        self.cwd = tmp_path
        self.data_dir = data_dir

    def run(
        self, *inspector_args: str, server_args: tuple[str, ...] = (), env: dict[str, str] | None = None
    ) -> tuple[int, dict[str, Any], str]:
        """Returns (exit code, the JSON document on stdout, stderr)."""
        cmd = [
            *self.command,
            "--cli",
            *inspector_args,
            "--format",
            "json",
            "--",  # everything after this is the server's command line, options included
            *relay_stdio_command(),
            "--data-dir",
            str(self.data_dir),
            *server_args,
        ]
        done = subprocess.run(
            cmd,
            capture_output=True,
            stdin=subprocess.DEVNULL,
            cwd=self.cwd,
            env={**os.environ, **(env or {})},
            timeout=120,
            check=False,
        )
        stdout = done.stdout.decode()
        stderr = done.stderr.decode()
        assert stdout.strip(), f"the inspector printed nothing on stdout (exit {done.returncode}): {stderr}"
        return done.returncode, json.loads(stdout), stderr

    def call(
        self, tool: str, arguments: dict[str, Any], *server_args: str, expect_error: bool = False
    ) -> dict[str, Any]:
        """``tools/call`` with exact JSON arguments; returns the call result."""
        code, out, err = self.run(
            "--method",
            "tools/call",
            "--tool-name",
            tool,
            "--tool-args-json",
            json.dumps(arguments),
            server_args=server_args,
        )
        result: dict[str, Any] = out["result"]
        assert result["isError"] is expect_error, (out, err)
        # The Inspector exits 5 ("tool_is_error") when the tool reports an error, 0 otherwise.
        assert code == (5 if expect_error else 0), (code, out, err)
        if expect_error:
            assert json.loads(err.strip().splitlines()[-1])["error"]["code"] == "tool_is_error"
        return result


@pytest.fixture
def inspector(tmp_path: Path) -> Inspector:
    return Inspector(tmp_path, tmp_path / "data")


def summary(messages: list[dict[str, Any]]) -> list[tuple[int, str, str]]:
    return [(m["id"], m["sender"], m["text"]) for m in messages]


def test_inspector_lists_the_tools_with_their_input_schemas(inspector: Inspector) -> None:
    # --strict makes the Inspector check every schema for portability problems and exit 6 on an error.
    code, out, err = inspector.run("--method", "tools/list", "--strict")
    assert code == 0, (out, err)
    tools = {tool["name"]: tool for tool in out["result"]["tools"]}
    assert set(tools) >= TOOLS
    for tool in tools.values():
        assert len(tool["description"].strip()) > 40, tool["name"]
        schema = tool["inputSchema"]
        assert schema["type"] == "object"
        for name, prop in schema.get("properties", {}).items():
            assert prop.get("description", "").strip(), f"{tool['name']}.{name} has no description"
        assert tool["outputSchema"]["type"] == "object"

    post = tools["post_message"]["inputSchema"]
    assert sorted(post["required"]) == ["target", "text"]
    assert set(post["properties"]) >= {"target", "text", "sender"}
    assert "letters, digits" in post["properties"]["target"]["description"]

    fetch = tools["fetch_messages"]["inputSchema"]
    assert fetch["required"] == ["target"]
    since = next(s for s in fetch["properties"]["since_id"]["anyOf"] if s.get("type") == "integer")
    assert since["minimum"] == 0 and since["maximum"] >= 2**63 - 1024  # MAX_ID, as a JavaScript number
    assert fetch["properties"]["limit"]["type"] == "integer"
    assert fetch["properties"]["limit"]["default"] == 50

    channels = tools["list_channels"]["inputSchema"]
    assert not channels.get("required") and not channels.get("properties")
    assert tools["list_channels"]["annotations"]["readOnlyHint"] is True


def test_inspector_calls_every_tool_and_reads_back_by_id_sender_and_text(
    inspector: Inspector, tmp_path: Path
) -> None:
    # --tool-arg key=value pairs, the way a person types them.
    code, out, err = inspector.run(
        "--method",
        "tools/call",
        "--tool-name",
        "post_message",
        "--tool-arg",
        "target=Proj-X",
        "text=hello from the inspector",
        server_args=("--sender", "alice"),
    )
    assert code == 0, (out, err)
    first = out["result"]["structuredContent"]
    assert first["ok"] is True and first["posted"] == 1
    assert summary([first["message"]]) == [(1, "alice", "hello from the inspector")]
    assert first["message"]["target"] == "proj-x" and first["message"]["source"] == "mcp"
    assert json.loads(out["result"]["content"][0]["text"]) == first  # the text block mirrors it

    tricky = 'a reply: "quoted", ünïcödé, key=value\n```diff\n-old\n+new\n```'
    second = inspector.call(
        "post_message", {"target": "proj-x", "text": tricky, "sender": "bob", "reply_to": 1}
    )["structuredContent"]
    assert second["posted"] == 2
    assert summary([second["message"]]) == [(2, "bob", tricky)]
    assert second["message"]["reply_to"] == 1

    everything = inspector.call("fetch_messages", {"target": "proj-x", "since_id": 0})["structuredContent"]
    assert summary(everything["messages"]) == [(1, "alice", "hello from the inspector"), (2, "bob", tricky)]
    assert (everything["latest_id"], everything["has_more"]) == (2, False)

    after_one = inspector.call("fetch_messages", {"target": "proj-x", "since_id": 1})["structuredContent"]
    assert summary(after_one["messages"]) == [(2, "bob", tricky)]

    page = inspector.call("fetch_messages", {"target": "proj-x", "since_id": 0, "limit": 1})
    assert summary(page["structuredContent"]["messages"]) == [(1, "alice", "hello from the inspector")]
    assert page["structuredContent"]["has_more"] is True

    # Without since_id: alice's saved read position, kept across these separate server processes.
    unread = inspector.call("fetch_messages", {"target": "proj-x"}, "--sender", "alice")["structuredContent"]
    assert summary(unread["messages"]) == [(1, "alice", "hello from the inspector"), (2, "bob", tricky)]
    again = inspector.call("fetch_messages", {"target": "proj-x"}, "--sender", "alice")["structuredContent"]
    assert (again["messages"], again["latest_id"]) == ([], 2)
    # bob has his own position.
    bobs = inspector.call("fetch_messages", {"target": "proj-x"}, "--sender", "bob")["structuredContent"]
    assert [m["id"] for m in bobs["messages"]] == [1, 2]

    listed = inspector.call("list_channels", {})["structuredContent"]
    assert listed["channels"] == sorted(set(listed["channels"]))
    assert {"proj-x", "codex", "claude"} <= set(listed["channels"])
    details = {d["target"]: d for d in listed["details"]}
    assert details["proj-x"]["count"] == 2
    assert details["proj-x"]["latest_id"] == 2
    assert details["proj-x"]["last_sender"] == "bob"
    assert details["codex"]["count"] == 0

    on_disk = (tmp_path / "data" / "channels" / "proj-x.jsonl").read_text(encoding="utf-8").splitlines()
    assert summary([json.loads(line) for line in on_disk]) == summary(everything["messages"])


@pytest.mark.parametrize(
    ("tool", "arguments", "expected"),
    [
        ("post_message", {"target": "../x", "text": "hi"}, ["invalid target '../x'", "letters, digits"]),
        ("post_message", {"target": "proj-x"}, ["text", "Field required"]),
        ("post_message", {"target": "proj-x", "text": "   "}, ["text is required"]),
        ("post_message", {"target": "proj-x", "text": "x" * 300}, ["300 bytes", "max_message_bytes"]),
        ("fetch_messages", {"target": "proj-x", "since_id": -1}, ["since_id must be a whole number >= 0"]),
        ("fetch_messages", {"target": "a/b"}, ["invalid target 'a/b'"]),
    ],
)
def test_inspector_gets_a_readable_tool_error_for_an_invalid_call(
    tmp_path: Path, tool: str, arguments: dict[str, Any], expected: list[str]
) -> None:
    inspector = Inspector(tmp_path, tmp_path / "data")
    # A small message limit, set the way an MCP client config would: in the server's environment.
    code, out, err = inspector.run(
        "-e",
        "CLAUDE_CODEX_MAX_MESSAGE_BYTES=200",
        "--method",
        "tools/call",
        "--tool-name",
        tool,
        "--tool-args-json",
        json.dumps(arguments),
        server_args=("--sender", "alice"),
    )
    assert code == 5, (out, err)
    result = out["result"]
    assert result["isError"] is True
    text = result["content"][0]["text"]
    for part in expected:
        assert part in text
    assert "Traceback" not in text
    channels = tmp_path / "data" / "channels"
    assert not channels.exists() or not any(channels.iterdir())  # no channel file was touched


def test_inspector_env_flags_configure_the_server_and_the_identity_comes_from_the_client(
    tmp_path: Path,
) -> None:
    """The README's form: ``-e CLAUDE_CODEX_...=...`` sets the server's environment."""
    inspector = Inspector(tmp_path, tmp_path / "unused")
    other = tmp_path / "other-store"
    command = [
        *inspector.command,
        "--cli",
        "-e",
        f"CLAUDE_CODEX_DATA_DIR={other}",
        "--method",
        "tools/call",
        "--tool-name",
        "post_message",
        "--tool-arg",
        "target=codex",
        "text=from the env-configured server",
        "--format",
        "json",
        "--",
        *relay_stdio_command(),
    ]
    done = subprocess.run(
        command, capture_output=True, stdin=subprocess.DEVNULL, cwd=tmp_path, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr.decode()
    message = json.loads(done.stdout)["result"]["structuredContent"]["message"]
    # No --sender and no CLAUDE_CODEX_SENDER: the identity is derived from the Inspector's client name.
    assert summary([message]) == [(1, "inspector-cli", "from the env-configured server")]
    stored = (other / "channels" / "codex.jsonl").read_text(encoding="utf-8").splitlines()
    assert summary([json.loads(line) for line in stored]) == [
        (1, "inspector-cli", "from the env-configured server")
    ]
    assert not (tmp_path / "unused").exists()
