"""``relay setup claude|codex --remove``: take out exactly what ``--apply`` wrote, keeping everything else.

What is removed: the relay's hook entries from a Claude Code settings file or Codex's hooks.json
(groups and events left empty by that go too), and ``[mcp_servers.relay]`` from Codex's config.toml
with the trust Codex recorded for the relay's hooks (``hooks.state."<key>"``). The current file is
backed up first. When what is left equals a backup ``--apply`` made (nothing else changed since), that
backup's bytes are written back, so the file is byte-identical to before, comments, key order and
indentation included; a file left empty that no backup had (``--apply`` created it) is deleted.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.exceptions import TOMLKitError

from shared.clientsetup import (
    SERVER_NAME,
    is_relay_hook,
    parse_codex_config,
    read_json_settings,
    write_with_backup,
)


def without_claude_hooks(settings: dict[str, Any]) -> dict[str, Any]:
    """``settings`` without the relay's hook entries; the user's hooks and other keys untouched."""
    hooks = settings.get("hooks")
    if not isinstance(hooks, dict):
        return settings
    events: dict[str, Any] = {}
    for event, groups in hooks.items():
        if not isinstance(groups, list):
            events[event] = groups
            continue
        kept = []
        for group in groups:
            entries = group.get("hooks") if isinstance(group, dict) else None
            if not isinstance(entries, list):
                kept.append(group)
                continue
            others = [entry for entry in entries if not is_relay_hook(entry)]
            if others or not entries:
                kept.append({**group, "hooks": others})
        if kept or not groups:
            events[event] = kept
    result = {key: value for key, value in settings.items() if key != "hooks"}
    if events or not hooks:  # a "hooks" the user had empty stays; one only the relay's filled goes
        result["hooks"] = events
    return result


def without_codex_server(text: str, path: Path, hook_keys: Sequence[str] = ()) -> str:
    """config.toml text without ``[mcp_servers.relay]`` and the trust state of ``hook_keys``.

    A table left empty by that (``mcp_servers``, ``hooks.state``, ``hooks``) goes too.
    """
    doc = parse_codex_config(text, path)
    servers = doc.get("mcp_servers")
    if isinstance(servers, dict) and SERVER_NAME in servers:
        del servers[SERVER_NAME]
        if not servers:
            del doc["mcp_servers"]
    _drop_hook_state(doc, hook_keys)
    return tomlkit.dumps(doc)


def _drop_hook_state(doc: Any, hook_keys: Sequence[str]) -> None:
    hooks = doc.get("hooks")
    state = hooks.get("state") if isinstance(hooks, dict) else None
    if not isinstance(state, dict):
        return
    for key in hook_keys:
        if key in state:
            del state[key]
    if not state:
        del hooks["state"]
    if not hooks:
        del doc["hooks"]


def _backups(path: Path) -> list[Path]:
    """The dated backups ``write_with_backup`` made of ``path``, newest first."""
    found = [p for p in path.parent.glob(f"{path.name}.bak-*") if p.is_file()]
    return sorted(found, key=lambda p: p.stat().st_mtime_ns, reverse=True)


def _same_as_a_backup(path: Path, data: Any, parse: Callable[[str], Any]) -> str | None:
    for backup in _backups(path):
        try:
            text = backup.read_text(encoding="utf-8")
            if parse(text) == data:
                return text
        except (OSError, ValueError, TOMLKitError):
            continue
    return None


def write_removal(path: Path, text: str, parse: Callable[[str], Any]) -> str:
    """Write what is left after a removal (see the module docstring); returns what was done, in words."""
    data = parse(text)
    original = _same_as_a_backup(path, data, parse)
    if original is not None:
        text = original
    elif not data:
        backup = write_with_backup(path, text)  # keeps the current file as a backup, then ...
        os.unlink(path)  # ... an empty file that no backup had was created by --apply: gone again
        return f"removed {path}, which --apply had created (backup: {backup})"
    if path.read_text(encoding="utf-8") == text:
        return f"{path}: nothing of the relay's to remove"
    backup = write_with_backup(path, text)
    restored = " (restored byte for byte as it was before --apply)" if original is not None else ""
    return f"the relay's entries removed from {path}{restored} (backup: {backup})"


def remove_claude_hooks(path: Path) -> str:
    """Take the relay's hooks out of one Claude Code settings file (or Codex's hooks.json, same shape)."""
    if not path.exists():
        return f"{path} does not exist: no hooks to remove"
    settings = read_json_settings(path)
    left = without_claude_hooks(settings)
    if left == settings:
        return f"{path}: no relay hooks in it"
    return write_removal(path, json.dumps(left, indent=2) + "\n", _parse_json)


def _parse_json(text: str) -> Any:
    return json.loads(text) if text.strip() else {}


def remove_codex_server(path: Path, hook_keys: Sequence[str] = ()) -> str:
    """Take ``[mcp_servers.relay]`` (and the trust recorded for ``hook_keys``) out of Codex's config.toml."""
    if not path.exists():
        return f"{path} does not exist: nothing to remove"
    text = path.read_text(encoding="utf-8")
    left = without_codex_server(text, path, hook_keys)
    if left == text:
        return f"{path}: no [mcp_servers.{SERVER_NAME}] in it"
    return write_removal(path, left, lambda t: tomlkit.parse(t).unwrap())
