"""Who this server posts and reads as, when no sender is configured: derived from the client's name."""

from __future__ import annotations

import re
from collections.abc import Callable

from mcp.server.mcpserver import Context

DEFAULT_IDENTITY = "agent"
# Names that MCP clients report in ``initialize`` -> the identity agents instructions use for them.
KNOWN_CLIENTS = {
    "claude-code": "claude",
    "claude-ai": "claude",
    "codex-mcp-client": "codex",
    "codex": "codex",
}
_FAMILIES = ("claude", "codex", "cursor", "gemini", "copilot")
_SUFFIXES = ("-mcp-client", "-client", "-mcp")


def identity_from_client(client_name: str | None) -> str:
    """Map a client name to an identity: claude-code -> claude, codex-mcp-client -> codex, else cleaned."""
    if not client_name or not client_name.strip():
        return DEFAULT_IDENTITY
    name = client_name.strip().lower()
    if name in KNOWN_CLIENTS:
        return KNOWN_CLIENTS[name]
    for family in _FAMILIES:
        if family in name:
            return family
    cleaned = re.sub(r"[^a-z0-9._-]+", "-", name).strip("-._")
    for suffix in _SUFFIXES:
        if cleaned.endswith(suffix) and len(cleaned) > len(suffix):
            cleaned = cleaned[: -len(suffix)]
            break
    return cleaned[:64] or DEFAULT_IDENTITY


IdentityResolver = Callable[[Context], str]
"""Who a tool call posts and reads as, given its MCP context."""


def client_identity(ctx: Context) -> str:
    """The identity derived from the name the client gave in ``initialize`` (``claude-code`` -> claude)."""
    params = ctx.session.client_params
    return identity_from_client(params.client_info.name if params else None)


def fixed_or_client(identity: str | None) -> IdentityResolver:
    """``identity`` for every call when it is set (``--sender``, config ``sender``), else the client's."""
    if identity:
        return lambda ctx: identity
    return client_identity
