"""``relay setup``: the exact registration for Claude Code and Codex on this installation, and applying it.

Claude Code (https://code.claude.com/docs/en/mcp, /hooks, /settings): ``claude mcp add --transport stdio
--scope <local|project|user> <name> -- <command> [args...]`` registers a stdio server; hooks live in a
settings file under ``hooks.<Event>``, a list of ``{"matcher"?, "hooks": [{"type": "command", "command",
"timeout"?}]}`` groups (``~/.claude/settings.json`` for user scope, ``.claude/settings.json`` for the
project, ``.claude/settings.local.json`` for local).

Codex (https://developers.openai.com/codex/mcp): ``[mcp_servers.<name>]`` in ``$CODEX_HOME/config.toml``
(``~/.codex/config.toml``) with ``command``, ``args``, ``env``/``env_vars``, ``startup_timeout_sec``
(default 10), ``tool_timeout_sec`` (default 60) and ``default_tools_approval_mode`` (auto, prompt,
approve). Merging uses tomlkit, which keeps the user's comments, order and formatting.
"""

from __future__ import annotations

import json
import shlex
import shutil
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.exceptions import TOMLKitError

from shared.config import Config, strip_password
from shared.errors import ConfigError, StoreError
from shared.explain import json_error_text, toml_error_text
from shared.fsutil import write_atomically
from shared.waiting import MAX_TIMEOUT_S

SERVER_NAME = "relay"
SCOPES = ("local", "project", "user")
HOOK_SUBCOMMANDS = (
    "hook claude-stop",
    "hook claude-context",
    "hook claude-rewake",
    "hook codex-stop",
    "hook codex-context",
)
CODEX_STARTUP_TIMEOUT_S = 20
# Long enough for the longest wait_for_messages (MAX_TIMEOUT_S) plus the round trip.
CODEX_TOOL_TIMEOUT_S = int(MAX_TIMEOUT_S) + 60
DEFAULT_STOP_WAIT_S = 540
STOP_HOOK_TIMEOUT_S = DEFAULT_STOP_WAIT_S + 60


def _console_script(name: str, module: str) -> list[str]:
    """The console script installed next to this Python (a venv's bin/), else on PATH, else via python -m."""
    here = Path(sys.executable).with_name(name)  # not resolved: a venv's python is a symlink
    if here.exists():
        return [str(here.absolute())]
    found = shutil.which(name)
    if found:
        return [str(Path(found).absolute())]
    return [str(Path(sys.executable).absolute()), "-m", module]


@dataclass(frozen=True)
class Installation:
    """Where this relay lives: the programs to register and the store the agents must share."""

    relay_stdio: tuple[str, ...]
    relay: tuple[str, ...]
    data_dir: Path
    store: str | None = None  # a PostgreSQL URL shared across machines; None: the files in data_dir

    @classmethod
    def find(cls, config: Config) -> Installation:
        return cls(
            tuple(_console_script("relay-stdio", "relay_stdio")),
            tuple(_console_script("relay", "relay_stdio.cli")),
            config.data_dir,
            strip_password(config.store) if config.store else None,
        )

    def _store_args(self) -> list[str]:
        return ["--data-dir", str(self.data_dir), *(["--store", self.store] if self.store else [])]

    def server_argv(self, identity: str) -> list[str]:
        """relay-stdio with the identity and the store pinned, so every client meets in the same place."""
        return [*self.relay_stdio, "--sender", identity, *self._store_args()]

    def relay_argv(self, *args: str) -> str:
        """A shell command line running ``relay`` on this store (hook commands are run by a shell)."""
        return shlex.join([*self.relay, *self._store_args(), *args])


# --- Claude Code ---------------------------------------------------------------------------------

CHANNEL_FLAG = "--dangerously-load-development-channels"


def claude_channel_launch(server_name: str = SERVER_NAME) -> list[str]:
    """The command that starts Claude Code with the relay's channel (a research preview, Claude Code 2.1.80+).

    Channels from a server that is not in an allowlisted plugin load only with this development flag;
    Claude Code asks once, in a dialog, to accept it.
    """
    return ["claude", CHANNEL_FLAG, f"server:{server_name}"]


def claude_add_command(
    inst: Installation, identity: str, scope: str, channels: tuple[str, ...] = ()
) -> list[str]:
    """``claude mcp add`` for this installation; ``channels`` are pushed from the session's start."""
    subscribe = [arg for name in channels for arg in ("--channel", name)]
    return [
        "claude",
        "mcp",
        "add",
        "--transport",
        "stdio",
        "--scope",
        scope,
        SERVER_NAME,
        "--",
        *inst.server_argv(identity),
        *subscribe,
    ]


def claude_hooks(
    inst: Installation, target: str, identity: str, peer: str, wait_s: int = DEFAULT_STOP_WAIT_S
) -> dict[str, Any]:
    """The ``hooks`` block: Stop resumes with the peer's answers, SessionStart/UserPromptSubmit add them."""
    return agent_hooks(inst, "claude", target, identity, peer, wait_s)


def agent_hooks(
    inst: Installation, client: str, target: str, identity: str, peer: str, wait_s: int
) -> dict[str, Any]:
    """One client's hooks block (``client`` "claude" or "codex": both read this shape and these answers)."""
    common = ("--target", target, "--identity", identity)
    stop = inst.relay_argv("hook", f"{client}-stop", *common, "--from", peer, "--wait", str(wait_s))
    context = inst.relay_argv("hook", f"{client}-context", *common)
    return {
        "Stop": [{"hooks": [{"type": "command", "command": stop, "timeout": wait_s + 60}]}],
        "SessionStart": [{"hooks": [{"type": "command", "command": context, "timeout": 30}]}],
        "UserPromptSubmit": [{"hooks": [{"type": "command", "command": context, "timeout": 30}]}],
    }


REWAKE_LIFETIME_S = 3600


def rewake_hooks(inst: Installation, target: str, identity: str, peer: str) -> dict[str, Any]:
    """The asyncRewake waiter on SessionStart and Stop: it wakes the idle session with the next message.

    With it the Stop hook need not wait (``--wait 0``): the background waiter does the waiting, and the
    session is free at its prompt meanwhile.
    """
    command = inst.relay_argv(
        "hook", "claude-rewake", "--target", target, "--identity", identity, "--from", peer,
        "--lifetime", str(REWAKE_LIFETIME_S),
    )  # fmt: skip
    entry = {"type": "command", "command": command, "asyncRewake": True, "timeout": REWAKE_LIFETIME_S + 60}
    return {event: [{"hooks": [entry]}] for event in ("SessionStart", "Stop")}


def claude_settings_path(scope: str, home: Path, project: Path) -> Path:
    """The settings file Claude Code reads for a scope."""
    if scope == "user":
        return home / ".claude" / "settings.json"
    if scope == "project":
        return project / ".claude" / "settings.json"
    return project / ".claude" / "settings.local.json"


def is_relay_hook(entry: object) -> bool:
    command = entry.get("command") if isinstance(entry, dict) else None
    return isinstance(command, str) and any(f" {sub} " in f" {command} " for sub in HOOK_SUBCOMMANDS)


def merge_claude_hooks(settings: dict[str, Any], hooks: dict[str, Any], path: Path) -> dict[str, Any]:
    """``settings`` with the relay's hooks in place of any earlier relay hooks; everything else kept."""
    merged = dict(settings)
    existing = merged.get("hooks", {})
    if not isinstance(existing, dict):
        raise ConfigError(f'{path}: "hooks" is not a JSON object; fix it by hand, then run this again')
    events = dict(existing)
    for event, groups in hooks.items():
        kept = []
        old_groups = events.get(event, [])
        if not isinstance(old_groups, list):
            raise ConfigError(f'{path}: "hooks.{event}" is not a list; fix it by hand, then run this again')
        for group in old_groups:
            if isinstance(group, dict) and isinstance(group.get("hooks"), list):
                others = [entry for entry in group["hooks"] if not is_relay_hook(entry)]
                if others:
                    kept.append({**group, "hooks": others})
            else:
                kept.append(group)
        events[event] = kept + groups
    merged["hooks"] = events
    return merged


def read_json_settings(path: Path) -> dict[str, Any]:
    """A settings file's object ({} when it does not exist); a broken file is an error, never overwritten."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path} is not UTF-8 text; fix it by hand, then run this again") from None
    try:
        data = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{path} is not valid JSON ({json_error_text(exc)}); fix it by hand, then run this again"
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a JSON object; fix it by hand, then run this again")
    return data


# --- Codex ------------------------------------------------------------------------------------------


def codex_config_path(env: Mapping[str, str], home: Path) -> Path:
    """``$CODEX_HOME/config.toml``, else ``~/.codex/config.toml``."""
    codex_home = env.get("CODEX_HOME")
    return (Path(codex_home).expanduser() if codex_home else home / ".codex") / "config.toml"


def codex_server_table(inst: Installation, identity: str) -> dict[str, Any]:
    """The keys of ``[mcp_servers.relay]``."""
    argv = inst.server_argv(identity)
    return {
        "command": argv[0],
        "args": argv[1:],
        "startup_timeout_sec": CODEX_STARTUP_TIMEOUT_S,
        "tool_timeout_sec": CODEX_TOOL_TIMEOUT_S,
        "default_tools_approval_mode": "approve",
    }


_APPROVAL_NOTE = (
    "The relay's tools read and write only the relay's own store; approving them lets",
    "codex exec (relay codex-auto-review) call them without a person at the keyboard.",
)


def codex_toml_block(inst: Installation, identity: str) -> str:
    """The ``[mcp_servers.relay]`` block as TOML text."""
    doc = tomlkit.document()
    servers = tomlkit.table(is_super_table=True)
    servers[SERVER_NAME] = _codex_table(inst, identity)
    doc["mcp_servers"] = servers
    return tomlkit.dumps(doc)


def _codex_table(inst: Installation, identity: str) -> Any:
    table = tomlkit.table()
    for key, value in codex_server_table(inst, identity).items():
        if key == "default_tools_approval_mode":
            for line in _APPROVAL_NOTE:
                table.add(tomlkit.comment(line))
        table[key] = value
    return table


def parse_codex_config(text: str, path: Path) -> tomlkit.TOMLDocument:
    """``config.toml`` text as a document that keeps comments and layout; ConfigError when it is not TOML."""
    try:
        return tomlkit.parse(text)
    except TOMLKitError as exc:
        raise ConfigError(
            f"{path} is not valid TOML ({toml_error_text(exc)}); fix it by hand, then run this again"
        ) from None


def merge_codex_config(text: str, inst: Installation, identity: str, path: Path) -> str:
    """``config.toml`` text with ``[mcp_servers.relay]`` set; other servers, keys and comments kept."""
    doc = parse_codex_config(text, path)
    servers = doc.get("mcp_servers")
    if servers is None:
        servers = tomlkit.table(is_super_table=True)
        doc["mcp_servers"] = servers
    if not isinstance(servers, dict):
        raise ConfigError(f"{path}: mcp_servers is not a table; fix it by hand, then run this again")
    current = servers.get(SERVER_NAME)
    if isinstance(current, dict):
        for key, value in codex_server_table(inst, identity).items():
            current[key] = value  # in place: keys the user added to the table stay
    else:
        table = _codex_table(inst, identity)
        table.add(tomlkit.nl())
        servers[SERVER_NAME] = table
    return tomlkit.dumps(doc)


# --- writing -----------------------------------------------------------------------------------------


def is_unchanged(path: Path, text: str) -> bool:
    """Whether ``path`` already holds exactly ``text``: then --apply writes nothing and backs up nothing."""
    try:
        return path.read_bytes() == text.encode("utf-8")
    except OSError:
        return False


def write_with_backup(path: Path, text: str) -> Path | None:
    """Replace ``path`` atomically with ``text``, first copying an existing file to a dated backup."""
    backup = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            stamp = time.strftime("%Y%m%d-%H%M%S")
            backup = path.with_name(f"{path.name}.bak-{stamp}")
            n = 1
            while backup.exists():  # never overwrite an earlier backup, whatever the clock says
                n += 1
                backup = path.with_name(f"{path.name}.bak-{stamp}-{n}")
            shutil.copy2(path, backup)
        write_atomically(path, text.encode("utf-8"), what="the client settings", keep_mode=True)
    except StoreError:
        raise
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}") from None
    return backup


# --- the one registration text --------------------------------------------------------------------


def registration_help(inst: Installation, codex_config: Path) -> str:
    """How to register both agents: the ``relay setup`` commands and exactly what each would write.

    relay-web's banner (and so ``scripts/run.sh``) prints this; ``relay setup claude|codex`` builds its
    own output from the same functions, so there is one registration, never a weaker copy of it.
    """
    add = claude_add_command(inst, "claude", "local")
    block = codex_toml_block(inst, "codex").rstrip("\n").splitlines()
    return "\n".join(
        [
            "Register the relay with your agents (each starts its own relay-stdio; all share this store):",
            f"  {inst.relay_argv('setup', 'claude', '--apply')}",
            "      runs the command below and adds the relay's hooks to .claude/settings.local.json:",
            f"      {shlex.join(add)}",
            f"  {inst.relay_argv('setup', 'codex', '--apply')}",
            f"      writes this to {codex_config}:",
            *(f"      {line}" for line in block),
            "  Without --apply each prints everything it would write; --remove undoes it; "
            f"{inst.relay_argv('doctor')} checks both agents.",
        ]
    )
