"""The stdio server: the relay's shared MCP server (``shared/mcp``), posting and reading as this
process's configured identity, or as the client that launched it."""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer

from shared.mcp import server as mcp_server
from shared.mcp.identity import fixed_or_client
from shared.relay import Relay


def build_server(relay: Relay, identity: str | None = None) -> MCPServer:
    """Build the server ``relay-stdio`` runs.

    Args:
        relay: the channels to serve.
        identity: this process's sender name; when None it is derived per call from the client's name.
    """
    return mcp_server.build_server(relay, fixed_or_client(identity))
