"""The relay's stdio MCP server (``relay-stdio``) and its command-line interface (``relay``)."""
