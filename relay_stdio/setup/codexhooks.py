"""Codex hooks: what ``relay setup codex --apply`` writes to ``$CODEX_HOME/hooks.json``, and trusting them.

Format (Codex 0.169+, codex-rs/hooks: ``discovery.rs``, ``schema/generated/*.json``): Codex reads the
user layer's hooks from ``hooks.json`` next to ``config.toml`` (``{"hooks": {"Stop": [{"matcher"?,
"hooks": [{"type": "command", "command", "timeout"}]}]}}``, the same shape as Claude Code's
``settings.json`` hooks) or from ``[hooks]`` in ``config.toml``; a layer with both loads both and warns.
The relay writes ``hooks.json``: JSON merges like Claude's settings, and ``config.toml`` stays the
person's. Stop, SessionStart and UserPromptSubmit take the same answers as Claude Code's.

Trust: Codex runs only hooks the person trusted and skips the others without a word. Its own review
(the TUI's hook review, ``/hooks``) records ``hooks.state."<key>".trusted_hash = <currentHash>`` in
``config.toml``, where the key is ``<hooks.json path>:<event_snake_case>:<group>:<handler>`` and the hash
is Codex's hash of the normalized hook. ``trust_relay_hooks`` does exactly that through Codex's own
app-server (``hooks/list``, then ``config/batchWrite``), so the hash is always Codex's, never a copy of
its algorithm that could drift.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from shared.clientsetup import (
    DEFAULT_STOP_WAIT_S,
    Installation,
    agent_hooks,
    codex_config_path,
    is_relay_hook,
)
from shared.errors import ConfigError

APP_SERVER_TIMEOUT_S = 60.0


def codex_hooks_path(env: Mapping[str, str], home: Path) -> Path:
    """``$CODEX_HOME/hooks.json``, else ``~/.codex/hooks.json``: the user layer's hooks file."""
    return codex_config_path(env, home).with_name("hooks.json")


def codex_hooks(
    inst: Installation, target: str, identity: str, peer: str, wait_s: int = DEFAULT_STOP_WAIT_S
) -> dict[str, Any]:
    """The ``hooks`` block: Stop continues the turn with the peer's answers; the context hooks add them."""
    return agent_hooks(inst, "codex", target, identity, peer, wait_s)


def _snake(event: str) -> str:
    """Codex's key label for an event: ``UserPromptSubmit`` -> ``user_prompt_submit``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", event).lower()


def relay_hook_keys(path: Path, hooks: Mapping[str, Any]) -> list[str]:
    """The ``hooks.state`` keys Codex gives the relay's entries of ``hooks`` read from ``path``."""
    keys = []
    for event, groups in hooks.items():
        for g, group in enumerate(groups if isinstance(groups, list) else []):
            entries = group.get("hooks") if isinstance(group, dict) else None
            for h, entry in enumerate(entries if isinstance(entries, list) else []):
                if is_relay_hook(entry):
                    keys.append(f"{path}:{_snake(event)}:{g}:{h}")
    return keys


class AppServer:
    """A minimal JSON-RPC client of ``codex app-server`` (one JSON object per line on stdin/stdout)."""

    def __init__(self, codex: str, env: Mapping[str, str]) -> None:
        try:
            self.proc = subprocess.Popen(
                [codex, "app-server"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                env=dict(env),
            )
        except OSError as exc:
            raise ConfigError(f"cannot start {codex} app-server: {exc.strerror or exc}") from None
        self.next_id = 0

    def __enter__(self) -> AppServer:
        self.request("initialize", {"clientInfo": {"name": "claude-codex-relay", "version": "1"}})
        self._send({"method": "initialized"})
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        finally:
            assert self.proc.stdout is not None
            self.proc.stdout.close()

    def _send(self, message: dict[str, Any]) -> None:
        stdin: IO[str] | None = self.proc.stdin
        assert stdin is not None
        stdin.write(json.dumps(message) + "\n")
        stdin.flush()

    def request(self, method: str, params: dict[str, Any]) -> Any:
        """Send one request and return its result; notifications in between are skipped."""
        self.next_id += 1
        self._send({"id": self.next_id, "method": method, "params": params})
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            message = json.loads(line)
            if message.get("id") != self.next_id:
                continue
            if "error" in message:
                raise ConfigError(f"codex app-server {method}: {message['error'].get('message')}")
            return message.get("result")
        raise ConfigError(f"codex app-server ended before answering {method}")


def list_relay_hooks(server: AppServer, hooks_path: Path, cwd: Path) -> list[dict[str, Any]]:
    """Codex's own view of the relay's hooks in ``hooks_path``: key, currentHash, trustStatus, ..."""
    listing = server.request("hooks/list", {"cwds": [str(cwd)]})
    found = []
    for entry in listing.get("data", []):
        for hook in entry.get("hooks", []):
            if hook.get("sourcePath") == str(hooks_path) and is_relay_hook(hook):
                found.append(hook)
    return found


def trust_relay_hooks(codex: str, env: Mapping[str, str], hooks_path: Path, cwd: Path) -> list[str]:
    """Record the person's trust in the relay's hooks as Codex's review does; returns the keys trusted.

    Only the relay's own entries are trusted, each with the hash Codex itself computed for it now.
    """
    with AppServer(codex, env) as server:
        hooks = list_relay_hooks(server, hooks_path, cwd)
        if not hooks:
            raise ConfigError(
                f"Codex does not list the relay's hooks in {hooks_path}; run relay setup codex --apply"
            )
        state = {hook["key"]: {"trusted_hash": hook["currentHash"]} for hook in hooks}
        edit = {"keyPath": "hooks.state", "value": state, "mergeStrategy": "upsert"}
        server.request("config/batchWrite", {"edits": [edit]})
        after = list_relay_hooks(server, hooks_path, cwd)
    untrusted = [hook["key"] for hook in after if hook.get("trustStatus") != "trusted"]
    if untrusted:
        raise ConfigError(f"Codex still reports these hooks untrusted after recording trust: {untrusted}")
    return sorted(state)


def hook_trust(codex: str, env: Mapping[str, str], hooks_path: Path, cwd: Path) -> dict[str, str]:
    """Event -> Codex's trust status of the relay's hook on it (``trusted``, ``untrusted``, ``modified``)."""
    with AppServer(codex, env) as server:
        return {
            str(hook["eventName"]): str(hook.get("trustStatus"))
            for hook in list_relay_hooks(server, hooks_path, cwd)
        }


def review_step(hooks_path: Path, trust_command: str) -> str:
    """What a person does to let Codex run the hooks: its own review, or the relay's --trust-hooks."""
    return (
        f"# Codex runs only hooks you have trusted, and skips the others without a word. Review the\n"
        f"# relay's hooks in {hooks_path} and trust them: start codex, which says that hooks need\n"
        f"# review (or type /hooks), and trust each one. Or record the same trust with:\n"
        f"{trust_command}"
    )
