"""Who this server posts and reads as, when no sender is configured: derived from the client's name."""

from __future__ import annotations

import re

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
