"""relay_stdio/protocol_era.py: which requests a client the relay pushes to gets "Method not found" for.

The filter runs on real anyio streams as relay-stdio wires it (the SDK's stdio streams in, the server
loop's stream out); tests/e2e/test_claude_channels.py runs it in a real relay-stdio and real Claude Code.
"""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from mcp.shared._context_streams import create_context_streams
from mcp.shared.message import SessionMessage
from mcp_types.jsonrpc import JSONRPCError, JSONRPCNotification, JSONRPCRequest

from relay_stdio.protocol_era import new_revision_client, older_protocol_for

pytestmark = pytest.mark.anyio

ENVELOPE = "io.modelcontextprotocol/protocolVersion"


def request(ident: int, method: str, client: str | None = None) -> JSONRPCRequest:
    params: dict[str, Any] = {}
    if client is not None:
        info = {"name": client, "version": "1"}
        params["_meta"] = {ENVELOPE: "2026-07-28", "io.modelcontextprotocol/clientInfo": info}
    return JSONRPCRequest(jsonrpc="2.0", id=ident, method=method, params=params)


async def run_filter(wants_claude: bool, *messages: Any) -> tuple[list[Any], list[Any]]:
    """What reaches the server loop, and what the filter answered itself."""
    incoming_send, incoming = create_context_streams[SessionMessage | Exception](10)
    answers_send, answers = create_context_streams[SessionMessage](10)
    async with incoming, answers, anyio.create_task_group() as tg:
        stream = older_protocol_for(
            lambda name: wants_claude and name == "claude-code", incoming, answers_send, tg
        )
        async with incoming_send:
            for message in messages:
                await incoming_send.send(SessionMessage(message))
        async with stream:
            forwarded = [item.message async for item in stream]
        answers_send.close()
        return forwarded, [item.message async for item in answers]


def test_new_revision_client_reads_the_envelope_and_only_the_envelope() -> None:
    assert new_revision_client(request(1, "server/discover", "claude-code")) == "claude-code"
    assert new_revision_client(request(1, "initialize")) is None
    bare = JSONRPCRequest(
        jsonrpc="2.0", id=1, method="tools/list", params={"_meta": {ENVELOPE: "2026-07-28"}}
    )
    assert new_revision_client(bare) == ""


async def test_a_pushed_to_client_is_told_method_not_found_until_it_initializes() -> None:
    probe, init = request(1, "server/discover", "claude-code"), request(0, "initialize")
    done = JSONRPCNotification(jsonrpc="2.0", method="notifications/initialized")
    later = request(2, "tools/list", "claude-code")  # after initialize nothing is answered here any more
    forwarded, answered = await run_filter(True, probe, init, done, later)
    assert forwarded == [init, done, later]
    assert [(type(a), a.id, a.error.code, a.error.message) for a in answered] == [
        (JSONRPCError, 1, -32601, "Method not found")
    ]


async def test_any_other_client_is_passed_through_untouched() -> None:
    messages = (request(1, "server/discover", "codex-mcp-client"), request(2, "tools/list", "claude-code"))
    assert await run_filter(True, *messages) == (list(messages), [])
    claude = (request(1, "server/discover", "claude-code"),)
    assert await run_filter(False, *claude) == (list(claude), [])  # the relay does not push to it
