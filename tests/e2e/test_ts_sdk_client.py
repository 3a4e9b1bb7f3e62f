"""The official TypeScript SDK client (npm ``@modelcontextprotocol/sdk``: ``Client`` over
``StdioClientTransport``, see ``tests/e2e/node/client.mjs``) against a real ``relay-stdio``.

The script introduces itself as Claude Code (``claude-code``, offering protocol 2025-11-25) or as Codex
(``codex-mcp-client``, offering 2025-06-18); with no sender configured the server must derive the
identity ``claude`` / ``codex`` from that name. The SDK also checks every structured result against the
tool's output schema, so a schema that does not match what the tool returns fails here.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import child_env, relay_stdio_command
from tests.e2e.node_clients import ts_client_command

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CLAUDE = ("claude-code", "2.1.0", "2025-11-25")
CODEX = ("codex-mcp-client", "0.60.0", "2025-06-18")


def run_client(
    client: tuple[str, str, str],
    calls: list[dict[str, Any]],
    *,
    home: Path,
    cwd: Path,
    server_env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run client.mjs once (one relay-stdio process) and return its JSON report."""
    name, version, protocol = client
    command = relay_stdio_command()
    cwd.mkdir(parents=True, exist_ok=True)
    spec = {
        "command": command[0],
        "args": command[1:],
        "env": server_env or {},
        "cwd": str(cwd),
        "clientName": name,
        "clientVersion": version,
        "protocolVersion": protocol,
        "calls": calls,
    }
    done = subprocess.run(
        [*ts_client_command(), json.dumps(spec)],
        capture_output=True,
        stdin=subprocess.DEVNULL,
        # The SDK hands the server only HOME, PATH, SHELL, TERM, USER, LOGNAME from this environment.
        env=child_env(home),
        cwd=cwd,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    report: dict[str, Any] = json.loads(done.stdout)
    assert [c["name"] for c in report["calls"]] == [c["name"] for c in calls]
    return report


def call(name: str, **arguments: Any) -> dict[str, Any]:
    return {"name": name, "arguments": arguments}


def summary(messages: list[dict[str, Any]]) -> list[tuple[int, str, str]]:
    return [(m["id"], m["sender"], m["text"]) for m in messages]


def ok(result: dict[str, Any]) -> dict[str, Any]:
    assert result["isError"] is False, result
    structured: dict[str, Any] = result["structuredContent"]
    assert json.loads(result["content"][0]["text"]) == structured
    return structured


def error_text(result: dict[str, Any]) -> str:
    assert result["isError"] is True, result
    text: str = result["content"][0]["text"]
    assert "Traceback" not in text
    return text


@pytest.mark.parametrize(
    ("client", "identity"), [(CLAUDE, "claude"), (CODEX, "codex")], ids=["claude-code", "codex"]
)
def test_ts_sdk_client_lists_and_calls_every_tool_with_the_identity_from_its_name(
    tmp_path: Path, client: tuple[str, str, str], identity: str
) -> None:
    data_dir = tmp_path / "store"
    tricky = 'verdict: "LGTM", ünïcödé\n```diff\n-a\n+b\n```'
    calls = [
        call("post_message", target="proj-x", text="review packet"),
        call("post_message", target="PROJ-X", text=tricky, reply_to=1),
        call("post_message", target="proj-x", text="a person chimes in", sender="dana"),
        call("fetch_messages", target="proj-x", since_id=0),
        call("fetch_messages", target="proj-x", since_id=2),
        call("fetch_messages", target="proj-x", since_id=0, limit=2),
        call("fetch_messages", target="proj-x"),
        call("fetch_messages", target="proj-x"),
        call("list_channels"),
        call("post_message", target="../etc", text="hi"),
        call("fetch_messages", target="proj-x", since_id="latest"),
        call("post_message", target="proj-x", text=" \n "),
    ]
    report = run_client(
        client,
        calls,
        home=tmp_path / "home",
        cwd=tmp_path / "project",
        server_env={"CLAUDE_CODEX_DATA_DIR": str(data_dir)},
    )

    init = report["initialize"]
    assert init["negotiated"] == init["offered"] == client[2]
    assert init["serverInfo"]["name"] == "claude-codex-relay"
    assert "post_message" in init["instructions"] and "fetch_messages" in init["instructions"]

    tools = {tool["name"]: tool for tool in report["tools"]}
    assert set(tools) >= {"post_message", "fetch_messages", "list_channels"}
    assert sorted(tools["post_message"]["inputSchema"]["required"]) == ["target", "text"]
    assert tools["fetch_messages"]["inputSchema"]["required"] == ["target"]
    for tool in tools.values():
        assert tool["description"].strip() and tool["outputSchema"]["type"] == "object"

    (
        first,
        second,
        third,
        everything,
        after_two,
        page,
        unread,
        unread_again,
        listed,
        bad_target,
        bad_since,
        blank,
    ) = report["calls"]
    expected = [(1, identity, "review packet"), (2, identity, tricky), (3, "dana", "a person chimes in")]
    for result, posted in zip((first, second, third), expected, strict=True):
        body = ok(result)
        assert body["ok"] is True and body["posted"] == posted[0]
        assert summary([body["message"]]) == [posted]
        assert body["message"]["target"] == "proj-x" and body["message"]["source"] == "mcp"
    assert ok(second)["message"]["reply_to"] == 1

    assert summary(ok(everything)["messages"]) == expected
    assert (ok(everything)["latest_id"], ok(everything)["has_more"]) == (3, False)
    assert summary(ok(after_two)["messages"]) == expected[2:]
    assert summary(ok(page)["messages"]) == expected[:2]
    assert (ok(page)["latest_id"], ok(page)["has_more"]) == (2, True)
    # No since_id: this identity's saved position (0 at first), which then moves past what it got.
    assert summary(ok(unread)["messages"]) == expected
    assert (ok(unread_again)["messages"], ok(unread_again)["latest_id"]) == ([], 3)

    details = {d["target"]: d for d in ok(listed)["details"]}
    assert {"proj-x", "codex", "claude"} <= set(ok(listed)["channels"])
    assert (details["proj-x"]["count"], details["proj-x"]["latest_id"]) == (3, 3)
    assert details["proj-x"]["last_sender"] == "dana"

    assert "invalid target '../etc'" in error_text(bad_target)
    assert "letters, digits" in error_text(bad_target)
    assert "since_id" in error_text(bad_since)
    assert "text is required" in error_text(blank)

    stored = (data_dir / "channels" / "proj-x.jsonl").read_text(encoding="utf-8").splitlines()
    assert summary([json.loads(line) for line in stored]) == expected


def test_claude_code_and_codex_clients_meet_in_the_default_store(tmp_path: Path) -> None:
    """Claude Code starts the server in a project folder, Codex in its home; no data dir is configured."""
    home = tmp_path / "home"
    project = tmp_path / "work" / "project-a"
    asked = run_client(
        CLAUDE,
        [call("post_message", target="codex", text="please review the packet in proj-x")],
        home=home,
        cwd=project,
    )
    question = ok(asked["calls"][0])["message"]
    assert summary([question]) == [(1, "claude", "please review the packet in proj-x")]

    answered = run_client(
        CODEX,
        [
            call("fetch_messages", target="codex"),
            call("post_message", target="claude", text="LGTM, one nit", reply_to=question["id"]),
            call("fetch_messages", target="codex"),
        ],
        home=home,
        cwd=home,
    )
    inbox, reply, inbox_again = (ok(result) for result in answered["calls"])
    assert summary(inbox["messages"]) == [(1, "claude", "please review the packet in proj-x")]
    assert summary([reply["message"]]) == [(1, "codex", "LGTM, one nit")]
    assert inbox_again["messages"] == []

    back = run_client(CLAUDE, [call("fetch_messages", target="claude")], home=home, cwd=project)
    got = ok(back["calls"][0])["messages"]
    assert summary(got) == [(1, "codex", "LGTM, one nit")]
    assert got[0]["reply_to"] == 1
    store = home / ".local" / "share" / "claude-codex-relay" / "channels"
    assert sorted(path.name for path in store.iterdir()) == ["claude.jsonl", "codex.jsonl"]
