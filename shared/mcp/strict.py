"""An MCPServer that refuses arguments a tool does not have, naming the ones it has."""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, InputRequiredResult


class StrictArgumentsServer(MCPServer):
    """An MCPServer that refuses arguments a tool does not have.

    The SDK ignores unknown arguments, so a model that writes ``sinceId`` instead of ``since_id`` would
    silently read from its saved position; an error naming the valid arguments lets it fix the call.
    A tool without arguments ignores extras: nothing can be misspelt there, and some clients send a
    placeholder argument to such tools.
    """

    _arguments: dict[str, list[str]] | None = None

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        if self._arguments is None:  # tools are all registered before the first call; list them once
            self._arguments = {
                tool.name: sorted(tool.input_schema.get("properties", {})) for tool in await self.list_tools()
            }
        known = self._arguments.get(name, [])
        if known:
            unknown = sorted(set(arguments) - set(known))
            if unknown:
                raise ToolError(
                    f"{name} has no argument {', '.join(map(repr, unknown))}; its arguments are "
                    f"{', '.join(known)}. Remove or rename the argument and call again"
                )
        return await super().call_tool(name, arguments, context)
