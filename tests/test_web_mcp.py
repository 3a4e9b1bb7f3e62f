"""``/mcp`` in relay-web: the MCP server behind the same Host, Origin and token rules as every route.

These go through the app in-process (Flask's test client, the real bridge and the SDK's real
Streamable HTTP transport on its event loop thread); tests/e2e/test_mcp_http.py drives a running
relay-web with the official TypeScript SDK client and the MCP Inspector.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from relay_web import mcp
from shared.relay import Relay

TOKEN = "mcp-token-" + "t" * 30
ACCEPT = "application/json, text/event-stream"


def rpc(method: str, params: dict[str, Any] | None = None, id_: int | None = 1) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": params or {}}
    if id_ is not None:
        message["id"] = id_
    return message


def initialize(client_name: str = "test-client") -> dict[str, Any]:
    return rpc(
        "initialize",
        {
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": client_name, "version": "1"},
        },
    )


def sse_messages(body: bytes) -> list[dict[str, Any]]:
    """The JSON-RPC messages of a text/event-stream body."""
    return [
        json.loads(line[len("data:") :])
        for line in body.decode().splitlines()
        if line.startswith("data:") and line[len("data:") :].strip()
    ]


class McpSession:
    """An MCP session over the test client: initialize, then calls carrying its session id."""

    def __init__(
        self, client: FlaskClient, url: str = "/mcp", client_name: str = "test-client", **headers: str
    ):
        self.client = client
        self.url = url
        self.headers = {"Accept": ACCEPT, **headers}
        answer = self.post(initialize(client_name))
        assert answer.status_code == 200, answer.get_data(as_text=True)
        self.headers["Mcp-Session-Id"] = answer.headers["Mcp-Session-Id"]
        self.headers["Mcp-Protocol-Version"] = "2025-06-18"
        assert self.post(rpc("notifications/initialized", id_=None)).status_code == 202

    def post(self, message: dict[str, Any]):  # type: ignore[no-untyped-def]
        return self.client.post(self.url, json=message, headers=self.headers, buffered=True)

    def call(self, tool: str, **arguments: Any) -> dict[str, Any]:
        answer = self.post(rpc("tools/call", {"name": tool, "arguments": arguments}, id_=7))
        assert answer.status_code == 200, answer.get_data(as_text=True)
        (result,) = [m for m in sse_messages(answer.get_data()) if m.get("id") == 7]
        assert result["result"]["isError"] is False, result
        structured: dict[str, Any] = result["result"]["structuredContent"]
        return structured


@pytest.fixture
def serve(make_app) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    """Build apps (with config keys) and stop their MCP event loops afterwards."""
    built: list[Flask] = []

    def build(**options: object) -> Flask:
        app: Flask = make_app(**options)
        built.append(app)
        return app

    yield build
    for app in built:
        mcp.endpoint_of(app).close()


def test_tools_over_mcp_post_and_fetch_from_the_same_store_as_the_api(serve, relay: Relay) -> None:  # type: ignore[no-untyped-def]
    client = serve().test_client()
    session = McpSession(client, client_name="claude-code")
    posted = session.call("post_message", target="proj-x", text="over http")
    relay.post("proj-x", "from elsewhere", "codex", source="cli")
    fetched = session.call("fetch_messages", target="proj-x")
    assert posted["posted"] == 1 and posted["message"]["sender"] == "claude"  # from clientInfo
    assert [(m["id"], m["sender"], m["text"]) for m in fetched["messages"]] == [
        (1, "claude", "over http"),
        (2, "codex", "from elsewhere"),
    ]
    assert [m["text"] for m in relay.recent("proj-x", 10, 10)] == ["over http", "from elsewhere"]


@pytest.mark.parametrize(
    ("url", "headers", "expected"),
    [
        ("/mcp", {"X-Relay-Sender": "reviewer-7"}, "reviewer-7"),
        ("/mcp?sender=param-name", {}, "param-name"),
        ("/mcp?sender=param-name", {"X-Relay-Sender": "header-wins"}, "header-wins"),
        ("/mcp", {"X-Relay-Sender": "Zoë".encode().decode("latin-1")}, "Zoë"),  # UTF-8 bytes
        ("/mcp", {"X-Relay-Sender": "Zoë"}, "Zoë"),  # one Latin-1 byte, as Node's fetch sends it
        ("/mcp", {}, "test"),  # clientInfo "test-client", as over stdio
    ],
)
def test_the_identity_comes_from_the_header_the_parameter_or_the_client(  # type: ignore[no-untyped-def]
    serve, url: str, headers: dict[str, str], expected: str
) -> None:
    session = McpSession(serve().test_client(), url, **headers)
    posted = session.call("post_message", target="who", text="hi")
    waited = session.call("fetch_messages", target="who")
    assert posted["message"]["sender"] == expected
    assert waited["messages"][0]["sender"] == expected  # and the read position is that identity's


@pytest.mark.parametrize(
    ("url", "headers", "fragment"),
    [
        (
            "/mcp",
            {"X-Relay-Sender": "   "},
            "X-Relay-Sender header is not a valid sender: sender is required",
        ),
        ("/mcp", {"X-Relay-Sender": "x" * 65}, "65 characters; at most 64"),
        ("/mcp?sender=a%01b", {}, "?sender= parameter is not a valid sender: sender contains the control"),
    ],
)
def test_a_bad_sender_is_a_400_that_says_which_and_why(serve, data_dir, url, headers, fragment) -> None:  # type: ignore[no-untyped-def]
    answer = serve().test_client().post(url, json=initialize(), headers={"Accept": ACCEPT, **headers})
    assert answer.status_code == 400
    assert fragment in answer.get_json()["error"]
    assert not (data_dir / "channels").exists() or not any((data_dir / "channels").iterdir())


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "http://127.0.0.1.evil.example:8010"},
        {"Origin": "null"},
        {"Origin": "http://localhost:8010", "Sec-Fetch-Site": "cross-site"},
    ],
)
def test_a_foreign_origin_is_refused_even_with_the_token(serve, headers: dict[str, str]) -> None:  # type: ignore[no-untyped-def]
    client = serve(auth_token=TOKEN).test_client()
    answer = client.post(
        "/mcp", json=initialize(), headers={"Accept": ACCEPT, "Authorization": f"Bearer {TOKEN}", **headers}
    )
    assert answer.status_code == 403
    assert "another site refused" in answer.get_json()["error"]


def test_a_page_of_an_allowed_origin_may_connect_without_the_csrf_token(serve) -> None:  # type: ignore[no-untyped-def]
    client = serve(allowed_hosts=["relay.lan"]).test_client()
    for origin in ("http://localhost:6274", "http://relay.lan:8010"):
        answer = client.post(
            "/mcp", json=initialize(), headers={"Accept": ACCEPT, "Origin": origin, "Host": "relay.lan:8010"}
        )
        assert answer.status_code == 200, answer.get_data(as_text=True)


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8010", "127.0.0.1.nip.io"])
def test_a_foreign_host_is_refused(serve, host: str) -> None:  # type: ignore[no-untyped-def]
    answer = serve().test_client().post("/mcp", json=initialize(), headers={"Accept": ACCEPT, "Host": host})
    assert answer.status_code == 403
    assert "is not allowed" in answer.get_json()["error"]


def test_with_a_token_mcp_needs_it_and_answers_401_in_json_without(serve) -> None:  # type: ignore[no-untyped-def]
    client = serve(auth_token=TOKEN).test_client()
    for method in ("POST", "GET", "DELETE"):
        answer = client.open("/mcp", method=method, json=initialize(), headers={"Accept": ACCEPT})
        assert answer.status_code == 401, method
        assert "Authorization: Bearer" in answer.get_json()["error"]
    wrong = client.post("/mcp", json=initialize(), headers={"Accept": ACCEPT, "Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    session = McpSession(client, Authorization=f"Bearer {TOKEN}")
    assert session.call("post_message", target="locked", text="with the token")["posted"] == 1


def test_get_is_405_so_no_stream_holds_a_thread(serve) -> None:  # type: ignore[no-untyped-def]
    answer = serve().test_client().get("/mcp", headers={"Accept": "text/event-stream"})
    assert answer.status_code == 405
    assert set(answer.headers["Allow"].split(", ")) == {"POST", "DELETE"}


def test_beyond_the_stream_budget_a_request_gets_503_with_retry_after(serve) -> None:  # type: ignore[no-untyped-def]
    app = serve()
    slots = mcp.endpoint_of(app).slots
    for _ in range(mcp.STREAMS_MAX):
        assert slots.acquire(blocking=False)  # as STREAMS_MAX requests in progress would hold them
    try:
        answer = app.test_client().post("/mcp", json=initialize(), headers={"Accept": ACCEPT})
    finally:
        for _ in range(mcp.STREAMS_MAX):
            slots.release()
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "1"
    assert f"{mcp.STREAMS_MAX} MCP requests are already in progress" in answer.get_json()["error"]
    assert McpSession(app.test_client()).call("list_channels")["channels"]  # a slot free: served again


def test_every_request_gives_its_slot_back(serve) -> None:  # type: ignore[no-untyped-def]
    app = serve()
    session = McpSession(app.test_client())
    for n in range(mcp.STREAMS_MAX + 5):
        session.call("post_message", target="slots", text=f"m{n}")
    bad = app.test_client().post(
        "/mcp", data="not json", headers={"Accept": ACCEPT, "Content-Type": "application/json"}, buffered=True
    )
    assert bad.status_code == 400
    slots = mcp.endpoint_of(app).slots
    taken = [slots.acquire(blocking=False) for _ in range(mcp.STREAMS_MAX)]
    assert all(taken) and not slots.acquire(blocking=False)
    for _ in taken:
        slots.release()
