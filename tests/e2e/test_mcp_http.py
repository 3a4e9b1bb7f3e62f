"""``/mcp`` on a real relay-web, driven by clients written by others and by raw HTTP.

The official TypeScript SDK client (``StreamableHTTPClientTransport``, tests/e2e/node/client.mjs) and
the MCP Inspector CLI (``--transport http``) talk to a running relay-web; a relay-stdio on the same
store reads what they post and the other way round, checked by id and text. A wait over /mcp is woken
by a post from another process, with the progress notifications arriving while it waits. Host,
Origin and token rules are tried on the running server, and as many waits as the server budgets for
are held open while the viewer keeps answering.
"""

from __future__ import annotations

import http.client
import json
import selectors
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from relay_web.mcp import STREAMS_MAX
from tests.e2e.conftest import child_env, relay_cli, relay_stdio_command
from tests.e2e.node_clients import inspector_command, ts_client_command
from tests.e2e.test_ts_sdk_client import CLAUDE, CODEX, call, ok, summary
from tests.e2e.web_server import running_relay_web

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TOKEN = "mcp-http-token-" + "q" * 30
TOOLS = {"post_message", "fetch_messages", "wait_for_messages", "list_channels", "search_messages"}


def client_spec(client: tuple[str, str, str], calls: list[dict[str, Any]], **where: Any) -> dict[str, Any]:
    name, version, protocol = client
    return {
        "clientName": name,
        "clientVersion": version,
        "protocolVersion": protocol,
        "calls": calls,
        **where,
    }


def run_ts_client(spec: dict[str, Any], home: Path, expect_ok: bool = True) -> tuple[dict[str, Any], str]:
    """Run client.mjs once; returns (its JSON report, or {} on failure, and its stderr)."""
    home.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [*ts_client_command(), json.dumps(spec)],
        capture_output=True,
        stdin=subprocess.DEVNULL,
        env=child_env(home),
        cwd=home,
        timeout=120,
        check=False,
    )
    stderr = done.stderr.decode()
    assert (done.returncode == 0) is expect_ok, (done.returncode, stderr)
    return (json.loads(done.stdout) if expect_ok else {}), stderr


def over_http(base: str, *, query: str = "", **headers: str) -> dict[str, Any]:
    return {"url": f"{base}/mcp{query}", "headers": headers}


def over_stdio(data_dir: Path) -> dict[str, Any]:
    command = relay_stdio_command()
    return {"command": command[0], "args": [*command[1:], "--data-dir", str(data_dir)]}


@pytest.fixture
def web(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    data_dir = tmp_path / "store"
    with running_relay_web(tmp_path / "web-home", data_dir) as (base, printed):
        assert f"claude mcp add --transport http relay {base}/mcp" in printed
        yield base, data_dir


def test_ts_sdk_over_http_and_stdio_read_each_others_posts_by_id_and_text(
    web: tuple[str, Path], tmp_path: Path
) -> None:
    base, data_dir = web
    tricky = 'packet: "quoted", ünïcödé\n```diff\n-a\n+b\n```'
    http_side, _ = run_ts_client(
        client_spec(
            CLAUDE,
            [
                call("post_message", target="proj-x", text="review packet over http"),
                call("post_message", target="PROJ-X", text=tricky, reply_to=1),
                {"resource": "relay://channel/proj-x"},
                {"prompt": "review_reply", "arguments": {"target": "proj-x", "packet_id": "2"}},
            ],
            listAll=True,
            **over_http(base),
        ),
        tmp_path / "claude-home",
    )
    posted = [ok(result) for result in http_side["calls"][:2]]
    assert [p["posted"] for p in posted] == [1, 2]
    assert summary([p["message"] for p in posted]) == [
        (1, "claude", "review packet over http"),  # "claude-code" -> claude, as over stdio
        (2, "claude", tricky),
    ]
    assert {t["name"] for t in http_side["tools"]} == TOOLS
    assert {r["uri"] for r in http_side["resources"]} >= {"relay://channel/proj-x", "relay://channel/codex"}
    assert [t["uriTemplate"] for t in http_side["resourceTemplates"]] == ["relay://channel/{target}"]
    assert {p["name"] for p in http_side["prompts"]} == {"review_packet", "review_reply"}
    transcript = http_side["calls"][2]["contents"][0]["text"]
    assert "### #1 claude" in transcript and "```diff\n-a\n+b\n```" in transcript
    assert "#2" in http_side["calls"][3]["messages"][0]["content"]["text"]

    stdio_side, _ = run_ts_client(
        client_spec(
            CODEX,
            [
                call("fetch_messages", target="proj-x"),
                call("post_message", target="proj-x", text="verdict over stdio", reply_to=2),
            ],
            **over_stdio(data_dir),
        ),
        tmp_path / "codex-home",
    )
    fetched, answer = (ok(result) for result in stdio_side["calls"])
    assert summary(fetched["messages"]) == [(1, "claude", "review packet over http"), (2, "claude", tricky)]
    assert fetched["messages"][1]["reply_to"] == 1
    assert summary([answer["message"]]) == [(3, "codex", "verdict over stdio")]

    # The stdio tools list the same tools with the same schemas.
    assert {t["name"]: t["inputSchema"] for t in stdio_side["tools"]} == {
        t["name"]: t["inputSchema"] for t in http_side["tools"]
    }

    # And back: a new HTTP session reads the stdio post.
    back, _ = run_ts_client(
        client_spec(CLAUDE, [call("fetch_messages", target="proj-x", since_id=2)], **over_http(base)),
        tmp_path / "claude-home",
    )
    assert summary(ok(back["calls"][0])["messages"]) == [(3, "codex", "verdict over stdio")]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ({"query": "", "X-Relay-Sender": "reviewer-7"}, "reviewer-7"),
        ({"query": "?sender=ci-bot"}, "ci-bot"),
    ],
    ids=["header", "parameter"],
)
def test_the_identity_over_http_comes_from_the_header_or_the_parameter(
    web: tuple[str, Path], tmp_path: Path, where: dict[str, str], expected: str
) -> None:
    base, data_dir = web
    report, _ = run_ts_client(
        client_spec(
            CLAUDE,
            [call("post_message", target="who", text="named"), call("fetch_messages", target="who")],
            **over_http(base, **where),
        ),
        tmp_path / "home",
    )
    posted, fetched = (ok(result) for result in report["calls"])
    assert summary([posted["message"]]) == [(1, expected, "named")]
    assert summary(fetched["messages"]) == [(1, expected, "named")]
    stored = json.loads((data_dir / "channels" / "who.jsonl").read_text().splitlines()[0])
    assert (stored["sender"], stored["source"]) == (expected, "mcp")


def test_a_wait_over_http_wakes_on_a_post_from_another_process_with_progress(
    web: tuple[str, Path], tmp_path: Path
) -> None:
    base, data_dir = web
    spec = client_spec(
        CLAUDE, [call("wait_for_messages", target="wake", timeout_s=60)], stream=True, **over_http(base)
    )
    home = tmp_path / "home"
    home.mkdir()
    with subprocess.Popen(
        [*ts_client_command(), json.dumps(spec)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        env=child_env(home),
        cwd=home,
    ) as waiter:
        assert waiter.stdout is not None and waiter.stderr is not None
        lines = read_lines(waiter.stdout, until=lambda line: "progress" in line)
        first = json.loads(lines[-1])["progress"]
        assert first["total"] == 60 and "waiting for messages in wake" in first["message"]
        # The wait is in progress: post from another process (the relay CLI on the same store).
        subprocess.run(
            [*relay_cli(), "--data-dir", str(data_dir), "post", "wake", "you have mail", "--sender", "codex"],
            check=True,
            capture_output=True,
            env=child_env(tmp_path / "cli-home"),
            timeout=60,
        )
        out, err = waiter.communicate(timeout=60)
    assert waiter.returncode == 0, err.decode()
    report = json.loads(out.decode().strip().splitlines()[-1])
    (result,) = report["calls"]
    assert summary(ok(result)["messages"]) == [(1, "codex", "you have mail")]
    assert result["progress"] and result["progress"][0] == first
    assert all(event["total"] == 60 for event in result["progress"])


def read_lines(stream: Any, until: Any, timeout: float = 60) -> list[str]:
    """Lines from a child's stdout as they come, up to the first one ``until`` accepts."""
    lines: list[str] = []
    buffer = b""
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        while not (lines and until(lines[-1])):
            assert selector.select(timeout=timeout), f"nothing within {timeout} s; so far {lines}"
            chunk = stream.read1(65536)
            assert chunk, f"the client ended; so far {lines}"
            buffer += chunk
            *done, buffer = buffer.split(b"\n")
            lines += [line.decode() for line in done]
    return lines


# --- the MCP Inspector CLI over HTTP ---------------------------------------------------------------


def inspector(base: str, *args: str, header: str | None = None) -> tuple[int, dict[str, Any], str]:
    command = [*inspector_command(), "--cli", f"{base}/mcp", "--transport", "http", *args, "--format", "json"]
    if header:
        command += ["--header", header]
    done = subprocess.run(command, capture_output=True, stdin=subprocess.DEVNULL, timeout=120, check=False)
    stdout, stderr = done.stdout.decode(), done.stderr.decode()
    assert stdout.strip(), f"the inspector printed nothing (exit {done.returncode}): {stderr}"
    return done.returncode, json.loads(stdout), stderr


def test_inspector_cli_over_http_lists_and_calls_the_tools(web: tuple[str, Path], tmp_path: Path) -> None:
    base, data_dir = web
    code, listed, err = inspector(base, "--method", "tools/list", "--strict")
    assert code == 0, (listed, err)
    assert {tool["name"] for tool in listed["result"]["tools"]} == TOOLS

    code, out, err = inspector(
        base,
        "--method",
        "tools/call",
        "--tool-name",
        "post_message",
        "--tool-arg",
        "target=proj-x",
        "text=hello from the inspector over http",
        header="X-Relay-Sender: inspector-user",
    )
    assert code == 0, (out, err)
    first = out["result"]["structuredContent"]
    assert summary([first["message"]]) == [(1, "inspector-user", "hello from the inspector over http")]

    # relay-stdio reads it from the store; and the Inspector reads a stdio post back over HTTP.
    stdio, _ = run_ts_client(
        client_spec(
            CODEX,
            [call("fetch_messages", target="proj-x"), call("post_message", target="proj-x", text="ack")],
            **over_stdio(data_dir),
        ),
        tmp_path / "home",
    )
    assert summary(ok(stdio["calls"][0])["messages"]) == [
        (1, "inspector-user", "hello from the inspector over http")
    ]
    code, out, err = inspector(
        base,
        "--method",
        "tools/call",
        "--tool-name",
        "fetch_messages",
        "--tool-arg",
        "target=proj-x",
        "since_id=1",
    )
    assert code == 0, (out, err)
    assert summary(out["result"]["structuredContent"]["messages"]) == [(2, "codex", "ack")]

    code, out, err = inspector(base, "--method", "resources/read", "--uri", "relay://channel/proj-x")
    assert code == 0, (out, err)
    assert "### #2 codex" in out["result"]["contents"][0]["text"]


# --- Host, Origin and token on the running server ------------------------------------------------


class Raw:
    """Raw HTTP to a running relay-web (headers sent exactly as given)."""

    def __init__(self, base: str) -> None:
        host, port = base.removeprefix("http://").rsplit(":", 1)
        self.host, self.port = host, int(port)

    def connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=60)

    def post(self, message: dict[str, Any], **headers: str) -> tuple[int, dict[str, str], bytes]:
        conn = self.connect()
        try:
            conn.putrequest("POST", "/mcp", skip_host=True)
            sent = {"Host": f"{self.host}:{self.port}", "Accept": "application/json, text/event-stream"}
            sent.update({"Content-Type": "application/json", **headers})
            body = json.dumps(message).encode()
            for name, value in {**sent, "Content-Length": str(len(body))}.items():
                conn.putheader(name, value)
            conn.endheaders(body)
            answer = conn.getresponse()
            return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()
        finally:
            conn.close()


INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "raw", "version": "1"},
    },
}


def test_a_foreign_host_or_origin_is_refused_on_mcp(web: tuple[str, Path]) -> None:
    base, data_dir = web
    raw = Raw(base)
    for headers in (
        {"Host": "evil.example"},
        {"Host": f"evil.example:{raw.port}"},
        {"Host": f"127.0.0.1.nip.io:{raw.port}"},
        {"Origin": "http://evil.example"},
        {"Origin": f"http://localhost.evil.example:{raw.port}"},
        {"Origin": "null"},
    ):
        status, _, body = raw.post(INITIALIZE, **headers)
        assert status == 403, (headers, body)
        assert "not allowed" in body.decode() or "another site refused" in body.decode(), body
    status, fields, _ = raw.post(INITIALIZE, Origin=f"http://localhost:{raw.port}")
    assert status == 200 and fields["mcp-session-id"]  # the relay's own origin is fine
    assert not (data_dir / "channels").exists() or not any((data_dir / "channels").iterdir())


def test_on_a_lan_bind_mcp_needs_the_token_and_works_with_it(tmp_path: Path) -> None:
    data_dir = tmp_path / "store"
    # Bound to every address, as on a LAN; the test only ever connects to 127.0.0.1.
    with running_relay_web(
        tmp_path / "web-home", data_dir, "--host", "0.0.0.0", CLAUDE_CODEX_AUTH_TOKEN=TOKEN
    ) as (base, printed):
        assert "Authorization: Bearer $CLAUDE_CODEX_AUTH_TOKEN" in printed and TOKEN not in printed
        status, _, body = Raw(base).post(INITIALIZE)
        assert status == 401 and "Authorization: Bearer" in json.loads(body)["error"]
        spec = client_spec(
            CLAUDE, [call("post_message", target="lan", text="with the token")], **over_http(base)
        )
        _, stderr = run_ts_client(spec, tmp_path / "no-token", expect_ok=False)
        assert "this relay needs its auth token" in stderr
        wrong = {**spec, "headers": {"Authorization": "Bearer not-the-token"}}
        run_ts_client(wrong, tmp_path / "wrong-token", expect_ok=False)
        right = {**spec, "headers": {"Authorization": f"Bearer {TOKEN}"}}
        report, _ = run_ts_client(right, tmp_path / "token")
        assert summary([ok(report["calls"][0])["message"]]) == [(1, "claude", "with the token")]
    stored = [json.loads(line) for line in (data_dir / "channels" / "lan.jsonl").read_text().splitlines()]
    assert summary(stored) == [(1, "claude", "with the token")]


# --- waits never starve the viewer ----------------------------------------------------------------


class WaitingSession(threading.Thread):
    """One MCP session over raw HTTP that waits on a channel; ``waiting`` is set at its first progress."""

    def __init__(self, raw: Raw, number: int, target: str) -> None:
        super().__init__(daemon=True)
        self.raw, self.number, self.target = raw, number, target
        self.waiting = threading.Event()
        self.result: dict[str, Any] | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = self.wait()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.error = exc
            self.waiting.set()

    def wait(self) -> dict[str, Any]:
        sender = {"X-Relay-Sender": f"waiter-{self.number}"}
        status, fields, body = self.raw.post(INITIALIZE, **sender)
        assert status == 200, body
        session = {"Mcp-Session-Id": fields["mcp-session-id"], "Mcp-Protocol-Version": "2025-06-18", **sender}
        status, _, _ = self.raw.post({"jsonrpc": "2.0", "method": "notifications/initialized"}, **session)
        assert status == 202
        conn = self.raw.connect()
        try:
            return self.read_result(conn, session)
        finally:
            conn.close()

    def read_result(self, conn: http.client.HTTPConnection, session: dict[str, str]) -> dict[str, Any]:
        message = {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {
                "name": "wait_for_messages",
                "arguments": {"target": self.target, "timeout_s": 120},
                "_meta": {"progressToken": f"t{self.number}"},
            },
        }
        body = json.dumps(message).encode()
        conn.request(
            "POST",
            "/mcp",
            body,
            {"Accept": "application/json, text/event-stream", "Content-Type": "application/json", **session},
        )
        answer = conn.getresponse()
        assert answer.status == 200
        while line := answer.readline():
            if not line.startswith(b"data:"):
                continue
            event = json.loads(line[5:])
            if event.get("method") == "notifications/progress":
                self.waiting.set()
            elif event.get("id") == 2:
                result: dict[str, Any] = event["result"]
                return result
        raise AssertionError("the stream ended without the result")


def test_as_many_waits_as_budgeted_leave_the_viewer_answering(web: tuple[str, Path]) -> None:
    base, _ = web
    raw = Raw(base)
    waiters = [WaitingSession(raw, n, "busy") for n in range(STREAMS_MAX)]
    for waiter in waiters:
        waiter.start()
    for waiter in waiters:
        assert waiter.waiting.wait(60) and waiter.error is None, waiter.error

    # Every MCP slot holds a waiting stream (and its worker thread): the viewer still answers...
    conn = raw.connect()
    for target in ("/api/channels", "/channels/busy", "/healthz", "/api/messages?target=busy"):
        conn.request("GET", target)
        answer = conn.getresponse()
        assert answer.status == 200, (target, answer.read())
        answer.read()
    # ...and one more MCP request is told to come back, rather than taking a viewer thread.
    status, fields, body = raw.post(INITIALIZE)
    assert status == 503 and fields["retry-after"] == "1", body
    assert f"{STREAMS_MAX} MCP requests are already in progress" in json.loads(body)["error"]

    body = json.dumps({"target": "busy", "sender": "dana", "text": "everyone, wake up"})
    conn.request("POST", "/api/messages", body, {"Content-Type": "application/json"})
    assert conn.getresponse().status == 201
    conn.close()
    for waiter in waiters:
        waiter.join(60)
        assert waiter.result is not None, waiter.error
        assert summary(waiter.result["structuredContent"]["messages"]) == [(1, "dana", "everyone, wake up")]

    # The slots are free again.
    status, _, body = raw.post(INITIALIZE)
    assert status == 200, body
