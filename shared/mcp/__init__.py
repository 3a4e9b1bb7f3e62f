"""The relay's MCP server: tools, resources and prompts, served over stdio by ``relay-stdio`` and over
Streamable HTTP at ``/mcp`` by ``relay-web``. Front ends pass in how a caller's identity is found."""
