"""Each channel as an MCP resource, ``relay://channel/<name>``: its last messages as Markdown.

Listed one by one (not only as a template) so clients can offer every channel for @-mentions.
"""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError
from mcp.types import Resource

from shared.errors import RelayError
from shared.models import API_LIMIT_MAX
from shared.relay import Relay
from shared.transcript import conversation_markdown

CHANNEL_URI = "relay://channel/{target}"
RESOURCE_MESSAGES = 50


def channel_resources(relay: Relay) -> list[Resource]:
    """One resource per known channel (seed channels and every channel with messages)."""
    try:
        names = relay.channels()["channels"]
    except RelayError as exc:
        raise ResourceError(str(exc)) from exc
    return [
        Resource(
            uri=CHANNEL_URI.format(target=name),
            name=f"channel {name}",
            title=f"Relay channel {name}",
            description=f"The last {RESOURCE_MESSAGES} messages of relay channel {name}, as Markdown",
            mime_type="text/markdown",
        )
        for name in names
    ]


def register_channel_resource(server: MCPServer, relay: Relay) -> None:
    """Serve ``relay://channel/{target}``, for listed channels and any other valid name alike."""

    @server.resource(
        CHANNEL_URI,
        name="channel",
        title="Relay channel",
        description=f"The last {RESOURCE_MESSAGES} messages of a relay channel as Markdown",
        mime_type="text/markdown",
    )
    def channel(target: str) -> str:
        try:
            messages = relay.recent(target, RESOURCE_MESSAGES, API_LIMIT_MAX)
        except RelayError as exc:
            raise ResourceError(str(exc)) from exc
        return conversation_markdown(target.strip().lower(), messages)
