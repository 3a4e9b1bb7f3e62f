"""Serving a channel client the older MCP protocol, the only one Claude Code delivers channels on.

MCP 2026-07-28 replaced the ``initialize`` handshake with ``server/discover`` and a per-request
``_meta`` envelope, and the MCP SDK the relay is built on answers it, so a client that opens with it
gets a connection of the new revision. Claude Code 2.1.332 opens that way (its first request is a
``server/discover`` probe), and then skips channel notifications: "connection negotiated a modern
protocol revision with no unsolicited notification path" (its ``--debug`` log). Against a server of
the older protocol the same probe gets "Method not found" and Claude Code falls back to ``initialize``
(2025-11-25), where channels work.

So for a client the relay pushes to (``ChannelPush.wants``: Claude Code, or anyone with ``--push``),
every request in the new envelope that arrives before ``initialize`` is answered "Method not found",
exactly as an older server answers it, and never reaches the SDK, whose first request decides the
connection's revision. Any other client is passed through untouched and gets the new revision. The
SDK (mcp 2.3) has no option for this choice, hence a filter on the stream between stdio and the
server loop.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import anyio
from mcp.shared._context_streams import ContextReceiveStream, create_context_streams
from mcp.shared.message import SessionMessage
from mcp_types.jsonrpc import METHOD_NOT_FOUND, ErrorData, JSONRPCError, JSONRPCRequest

VERSION_KEY = "io.modelcontextprotocol/protocolVersion"
CLIENT_KEY = "io.modelcontextprotocol/clientInfo"


def new_revision_client(request: JSONRPCRequest) -> str | None:
    """The client name of a request in the 2026-07-28 envelope ("" when it names none), else None."""
    params = request.params if isinstance(request.params, Mapping) else {}
    meta = params.get("_meta")
    if not isinstance(meta, Mapping) or VERSION_KEY not in meta:
        return None
    info = meta.get(CLIENT_KEY)
    name = info.get("name") if isinstance(info, Mapping) else None
    return name if isinstance(name, str) else ""


def older_protocol_for(
    wants: Callable[[str | None], bool], read_stream: Any, write_stream: Any, task_group: anyio.abc.TaskGroup
) -> ContextReceiveStream[SessionMessage | Exception]:
    """The client's messages for the server loop, with a pushed-to client held to ``initialize``."""
    forward, forwarded = create_context_streams[SessionMessage | Exception](0)

    async def relay_messages() -> None:
        decided = False
        async with forward:
            async for item in read_stream:
                if not decided and isinstance(item, SessionMessage):
                    message = item.message
                    if isinstance(message, JSONRPCRequest):
                        client = new_revision_client(message)
                        if client is not None and wants(client):
                            await write_stream.send(SessionMessage(_not_found(message)))
                            continue
                        decided = True
                await forward.send(item)

    task_group.start_soon(relay_messages)
    return forwarded


def _not_found(request: JSONRPCRequest) -> JSONRPCError:
    error = ErrorData(code=METHOD_NOT_FOUND, message="Method not found")
    return JSONRPCError(jsonrpc="2.0", id=request.id, error=error)
