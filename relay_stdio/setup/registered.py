"""Reading what Claude Code and Codex have registered: the relay's server entries and hooks, per scope.

``relay setup`` warns from it (a double registration) and ``relay doctor`` checks from it. Formats, as
the clients write them (``claude mcp add``, ``codex mcp add``): Claude Code keeps user-scope servers in
``~/.claude.json`` ``mcpServers`` (``$CLAUDE_CONFIG_DIR/.claude.json`` when that is set), local-scope ones
under ``projects.<absolute project path>.mcpServers`` of the same file, and project-scope ones in the
project's ``.mcp.json``; each entry is ``{"type": "stdio", "command", "args", "env"}``. Codex keeps
``[mcp_servers.<name>]`` in ``$CODEX_HOME/config.toml``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.exceptions import TOMLKitError

from shared.clientsetup import SCOPES, SERVER_NAME, claude_settings_path, codex_config_path, is_relay_hook
from shared.errors import ConfigError
from shared.explain import json_error_text, toml_error_text


@dataclass(frozen=True)
class Registration:
    """One client's entry for the relay: how the client starts it, and where that is written."""

    client: str  # "claude" or "codex"
    scope: str  # claude: local, project or user; codex: "user"
    source: Path
    command: str
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    env_vars: tuple[str, ...] = ()  # codex: variables passed through besides its defaults
    cwd: Path | None = None

    @property
    def argv(self) -> list[str]:
        return [self.command, *self.args]


def claude_json_path(env: Mapping[str, str], home: Path) -> Path:
    """Claude Code's own state file, which holds its user- and local-scope MCP servers."""
    base = env.get("CLAUDE_CONFIG_DIR")
    return (Path(base).expanduser() if base else home) / ".claude.json"


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8") or "{}")
    except FileNotFoundError:
        return {}
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path} is not valid JSON ({json_error_text(exc)})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    return data if isinstance(data, dict) else {}


def _entry(servers: object) -> dict[str, Any] | None:
    entry = servers.get(SERVER_NAME) if isinstance(servers, dict) else None
    return entry if isinstance(entry, dict) else None


def _strings(value: object) -> tuple[str, ...]:
    return tuple(str(item) for item in value) if isinstance(value, list) else ()


def _env(value: object) -> dict[str, str]:
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def claude_registrations(env: Mapping[str, str], home: Path, project: Path) -> list[Registration]:
    """The relay's Claude Code entries in every scope, local first (the one Claude Code uses)."""
    state_path = claude_json_path(env, home)
    state = _read_json(state_path)
    projects = state.get("projects")
    local = projects.get(str(project)) if isinstance(projects, dict) else None
    mcp_json = project / ".mcp.json"
    places = {
        "local": (state_path, _entry(local.get("mcpServers")) if isinstance(local, dict) else None),
        "project": (mcp_json, _entry(_read_json(mcp_json).get("mcpServers"))),
        "user": (state_path, _entry(state.get("mcpServers"))),
    }
    found = []
    for scope in SCOPES:
        source, entry = places[scope]
        if entry is not None:
            args, env_values = _strings(entry.get("args")), _env(entry.get("env"))
            found.append(
                Registration("claude", scope, source, str(entry.get("command", "")), args, env_values)
            )
    return found


def claude_relay_hooks(path: Path) -> dict[str, list[str]]:
    """Event -> the relay's hook commands in one Claude Code settings file.

    Raises:
        ConfigError: the file or its ``hooks`` is not in Claude Code's format.
    """
    hooks = _read_json(path).get("hooks", {})
    if not isinstance(hooks, dict):
        raise ConfigError(f'{path}: "hooks" is not a JSON object')
    found: dict[str, list[str]] = {}
    for event, groups in hooks.items():
        if not isinstance(groups, list):
            raise ConfigError(f'{path}: "hooks.{event}" is not a list of {{"matcher", "hooks"}} groups')
        for group in groups:
            entries = group.get("hooks") if isinstance(group, dict) else None
            if not isinstance(entries, list):
                raise ConfigError(f'{path}: a group in "hooks.{event}" has no "hooks" list')
            found.setdefault(event, []).extend(e["command"] for e in entries if is_relay_hook(e))
    return {event: commands for event, commands in found.items() if commands}


def claude_scopes_with_relay(env: Mapping[str, str], home: Path, project: Path) -> dict[str, list[str]]:
    """Scope -> what of the relay is there ("MCP server", "hooks"): to warn about a double registration."""
    where: dict[str, list[str]] = {}
    for registration in claude_registrations(env, home, project):
        where.setdefault(registration.scope, []).append("MCP server")
    for scope in SCOPES:
        try:
            if claude_relay_hooks(claude_settings_path(scope, home, project)):
                where.setdefault(scope, []).append("hooks")
        except ConfigError:
            continue  # a broken file is reported where it is written or checked, not here
    return where


def codex_registration(env: Mapping[str, str], home: Path) -> Registration | None:
    """The relay's ``[mcp_servers.relay]`` in Codex's config.toml, or None."""
    path = codex_config_path(env, home)
    try:
        doc = tomlkit.parse(path.read_text(encoding="utf-8")).unwrap()
    except FileNotFoundError:
        return None
    except TOMLKitError as exc:
        raise ConfigError(f"{path} is not valid TOML ({toml_error_text(exc)})") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    entry = _entry(doc.get("mcp_servers"))
    if entry is None:
        return None
    cwd = entry.get("cwd")
    return Registration(
        "codex",
        "user",
        path,
        str(entry.get("command", "")),
        _strings(entry.get("args")),
        _env(entry.get("env")),
        _strings(entry.get("env_vars")),
        Path(str(cwd)).expanduser() if cwd else None,
    )
