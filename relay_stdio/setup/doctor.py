"""``relay doctor``: each client's registration of the relay, started as that client starts it, checked.

For every client it finds (Claude Code, Codex) it reads the client's own config, starts the registered
server with the client's environment rules and working folder, and calls ``list_channels`` through a
real MCP client. It then runs the same command line with ``--print-config`` to learn the store and
identity that server resolved, and checks what makes two agents meet: one store, two identities, the
hooks, the waiting notifier, a private store, and (a note only) a viewer.

Environment rules (what the clients document and do): Claude Code starts a stdio server with its own
environment plus the entry's ``env``, in the project folder. Codex passes only a fixed list of
variables (:data:`CODEX_DEFAULT_ENV`), those named in ``env_vars``, and the entry's ``env``, in the
entry's ``cwd`` or else Codex's working folder.
"""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
import tempfile
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.types import Implementation

from relay_stdio.setup import codexhooks
from relay_stdio.setup import registered as clientconfig
from relay_stdio.setup.registered import Registration
from shared.clientsetup import SCOPES, claude_settings_path, codex_config_path
from shared.config import Config
from shared.errors import ConfigError
from shared.mcp.identity import identity_from_client
from shared.storage import is_database_url, open_store

# codex-rs rmcp-client: the variables every stdio MCP server gets from Codex on Unix.
CODEX_DEFAULT_ENV = (
    "HOME", "LOGNAME", "PATH", "SHELL", "USER", "__CF_USER_TEXT_ENCODING", "LANG", "LC_ALL", "TERM",
    "TMPDIR", "TZ",
)  # fmt: skip
CLIENT_NAMES = {"claude": "claude-code", "codex": "codex-mcp-client"}  # what each sends in initialize
START_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Check:
    """One line of the report: ``ok`` True (fine), False (a problem, with its fix) or None (a note)."""

    name: str
    ok: bool | None
    detail: str
    fix: str = ""

    def line(self) -> str:
        mark = {True: "ok  ", False: "FAIL", None: "note"}[self.ok]
        return f"{mark}  {self.name}: {self.detail}" + (f"  -> fix: {self.fix}" if self.fix else "")


@dataclass(frozen=True)
class Probe:
    """What one registered server answered: its store and identity, or why it did not start."""

    registration: Registration
    store: str | None = None
    data_dir: str | None = None
    identity: str | None = None
    channels: int = 0
    error: str | None = None


def launch_env(reg: Registration, env: Mapping[str, str]) -> dict[str, str]:
    """The environment the client gives the server."""
    if reg.client == "codex":
        names = (*CODEX_DEFAULT_ENV, *reg.env_vars)
        return {**{name: env[name] for name in names if name in env}, **reg.env}
    return {**env, **reg.env}


def launch_cwd(reg: Registration, project: Path) -> Path:
    return reg.cwd or project


async def _list_channels(reg: Registration, env: dict[str, str], cwd: Path, errlog: Any) -> int:
    params = StdioServerParameters(command=reg.command, args=list(reg.args), env=env, cwd=cwd)
    info = Implementation(name=CLIENT_NAMES[reg.client], version="relay-doctor")
    with anyio.fail_after(START_TIMEOUT_S):
        async with Client(stdio_client(params, errlog=errlog), client_info=info) as client:
            result = await client.call_tool("list_channels", {})
    if result.is_error:
        raise RuntimeError(f"list_channels failed: {result.content}")
    return len((result.structured_content or {}).get("channels", []))


def _reason(exc: BaseException) -> str:
    """The innermost cause, without the task group wrapping the SDK adds around it."""
    inner: tuple[BaseException, ...] = getattr(exc, "exceptions", ())  # an ExceptionGroup (3.10: backport)
    while inner:
        exc = inner[0]
        inner = getattr(exc, "exceptions", ())
    if isinstance(exc, TimeoutError):
        return f"no answer within {START_TIMEOUT_S:g} s"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1].strip() if lines else "no message on stderr"


def probe(reg: Registration, env: Mapping[str, str], project: Path) -> Probe:
    """Start the registered server as its client would, call list_channels, then ask what it resolved."""
    child_env, cwd = launch_env(reg, env), launch_cwd(reg, project)
    with tempfile.TemporaryFile("w+", encoding="utf-8") as errlog:
        try:
            channels = anyio.run(_list_channels, reg, child_env, cwd, errlog)
        except Exception as exc:  # noqa: BLE001 - any failure to start is the finding, reported in words
            errlog.seek(0)
            said = _last_line(errlog.read())
            return Probe(reg, error=f"{_reason(exc)}; it said: {said}")
    try:
        done = subprocess.run(
            [*reg.argv, "--print-config"], env=child_env, cwd=cwd, capture_output=True, text=True, timeout=60
        )
        resolved = json.loads(done.stdout)
    except (OSError, subprocess.SubprocessError, ValueError):
        return Probe(reg, channels=channels, error="it answered, but --print-config did not (an old relay?)")
    identity = resolved.get("sender") or identity_from_client(CLIENT_NAMES[reg.client])
    return Probe(reg, resolved.get("store"), resolved.get("data_dir"), identity, channels)


def _registered(client: str, env: Mapping[str, str], home: Path, project: Path) -> list[Registration]:
    if client == "claude":
        return clientconfig.claude_registrations(env, home, project)[:1]  # local hides project and user
    found = clientconfig.codex_registration(env, home)
    return [found] if found else []


def find_registrations(
    env: Mapping[str, str], home: Path, project: Path
) -> tuple[list[Registration], list[Check]]:
    """The registration each client would use, and a failed check for a client without one."""
    found: list[Registration] = []
    checks: list[Check] = []
    for client in ("claude", "codex"):
        try:
            regs = _registered(client, env, home, project)
        except ConfigError as exc:
            checks.append(Check(f"{client} config", False, str(exc), "fix the file by hand"))
            continue
        found.extend(regs)
        if not regs and _client_present(client, env, home):
            fix = f"relay setup {client} --apply"
            checks.append(Check(f"{client} registration", False, "the relay is not registered", fix))
    return found, checks


def _client_present(client: str, env: Mapping[str, str], home: Path) -> bool:
    if shutil.which(client, path=env.get("PATH")):
        return True
    if client == "codex":
        return codex_config_path(env, home).exists()
    return clientconfig.claude_json_path(env, home).exists()


def probe_checks(probes: list[Probe]) -> list[Check]:
    checks = []
    for p in probes:
        reg = p.registration
        name = f"{reg.client} server ({reg.scope} scope, {reg.source})"
        if p.error is not None:
            fix = f"check that {reg.command} exists and runs; relay setup {reg.client} --apply rewrites it"
            checks.append(Check(name, False, f"does not start as {reg.client} starts it: {p.error}", fix))
        else:
            detail = (
                f"starts and answers list_channels ({p.channels} channels); "
                f"store {p.store}, identity {p.identity}"
            )
            checks.append(Check(name, True, detail))
    return checks


def shared_store_checks(probes: list[Probe]) -> list[Check]:
    live = [p for p in probes if p.error is None]
    checks: list[Check] = []
    if len(live) < 2:
        return checks
    stores = {p.registration.client: p.store for p in live}
    if len(set(stores.values())) == 1:
        checks.append(Check("same store", True, f"every agent uses {live[0].store}"))
    else:
        shown = "; ".join(f"{client}: {store}" for client, store in stores.items())
        fix = "run relay setup claude --apply and relay setup codex --apply with the same --data-dir"
        checks.append(Check("same store", False, f"the agents would not meet ({shown})", fix))
    identities = {p.registration.client: p.identity for p in live}
    if len(set(identities.values())) == len(identities):
        checks.append(Check("identities differ", True, ", ".join(f"{c}: {i}" for c, i in identities.items())))
    else:
        fix = "give each agent its own --identity in relay setup"
        checks.append(
            Check("identities differ", False, f"two agents post as {set(identities.values())}", fix)
        )
    return checks


def hook_checks(env: Mapping[str, str], home: Path, project: Path, regs: list[Registration]) -> list[Check]:
    """Claude Code's hooks parse in its settings format, and a Stop hook hands the peer's answers back."""
    if not any(r.client == "claude" for r in regs):
        return []
    events: dict[str, list[str]] = {}
    for scope in SCOPES:
        path = claude_settings_path(scope, home, project)
        try:
            for event, commands in clientconfig.claude_relay_hooks(path).items():
                events.setdefault(event, []).extend(commands)
        except ConfigError as exc:
            return [
                Check(
                    "claude hooks", False, str(exc), "fix the file by hand, then relay setup claude --apply"
                )
            ]
    if "Stop" not in events:
        fix = "relay setup claude --apply (or --no-hooks on purpose: then ignore this)"
        return [Check("claude hooks", False, "no relay Stop hook: Claude will not resume with answers", fix)]
    return [Check("claude hooks", True, f"parse; relay hooks on {', '.join(sorted(events))}")]


def codex_hook_checks(
    env: Mapping[str, str], home: Path, project: Path, regs: list[Registration]
) -> list[Check]:
    """Codex's hooks.json holds the relay's Stop hook, and Codex trusts it (Codex skips untrusted hooks)."""
    if not any(r.client == "codex" for r in regs):
        return []
    path = codexhooks.codex_hooks_path(env, home)
    try:
        events = clientconfig.claude_relay_hooks(path)  # hooks.json has Claude Code's settings shape
    except ConfigError as exc:
        return [Check("codex hooks", False, str(exc), "fix the file by hand, then relay setup codex --apply")]
    if "Stop" not in events:
        fix = "relay setup codex --apply (or --no-hooks on purpose: then ignore this)"
        return [
            Check(
                "codex hooks",
                False,
                f"no relay Stop hook in {path}: Codex will not continue with answers",
                fix,
            )
        ]
    codex = shutil.which("codex", path=env.get("PATH"))
    if codex is None:
        return [
            Check(
                "codex hooks",
                None,
                f"relay hooks on {', '.join(sorted(events))}; codex not on PATH to ask "
                "whether it trusts them",
            )
        ]
    try:
        trust = codexhooks.hook_trust(codex, env, path, project)
    except (ConfigError, OSError, ValueError) as exc:
        return [
            Check(
                "codex hooks",
                None,
                f"relay hooks on {', '.join(sorted(events))}; Codex did not say "
                f"whether it trusts them ({exc})",
            )
        ]
    untrusted = sorted(event for event, status in trust.items() if status != "trusted")
    if untrusted or not trust:
        fix = "trust them in Codex (/hooks), or relay setup codex --apply --trust-hooks"
        return [
            Check("codex hooks", False, f"Codex skips untrusted hooks: {', '.join(untrusted) or 'all'}", fix)
        ]
    return [Check("codex hooks", True, f"trusted by Codex; relay hooks on {', '.join(sorted(trust))}")]


def store_checks(probes: list[Probe]) -> list[Check]:
    """The notifier waiting relies on, and private modes, for the (first) store the servers use."""
    data_dir = next((Path(p.data_dir) for p in probes if p.data_dir), None)
    if data_dir is None:
        return []
    checks = []
    if any(p.store and is_database_url(p.store) for p in probes):
        return [
            Check("waiting notifier", True, "PostgreSQL LISTEN/NOTIFY: a post on any machine wakes a waiter")
        ]
    notifier = open_store(data_dir).subscribe() if (data_dir / "channels").is_dir() else None
    if notifier is not None:
        notifier.close()
        checks.append(Check("waiting notifier", True, "inotify: a post wakes a waiting agent at once"))
    else:
        fix = "raise fs.inotify.max_user_instances / max_user_watches (sysctl); waiting polls meanwhile"
        checks.append(
            Check("waiting notifier", False, "no inotify for the store: waits fall back to polling", fix)
        )
    open_to_others = [
        str(path)
        for path in (data_dir, data_dir / "channels")
        if path.exists() and stat.S_IMODE(path.stat().st_mode) & 0o077
    ]
    if open_to_others:
        fix = f"chmod -R go-rwx {data_dir} (any relay command also does it on start)"
        checks.append(
            Check("store permissions", False, f"readable by other users: {', '.join(open_to_others)}", fix)
        )
    else:
        checks.append(Check("store permissions", True, f"{data_dir} is private (0700)"))
    return checks


def viewer_check(config: Config) -> Check:
    host = "127.0.0.1" if config.host in ("0.0.0.0", "::", "") else config.host
    url = f"http://{host}:{config.port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            if answer.read() == b"ok":
                return Check("viewer", None, f"relay-web answers at http://{host}:{config.port}/")
    except OSError:
        pass
    return Check("viewer", None, f"none answers at http://{host}:{config.port}/ (start relay-web to watch)")


def run_doctor(config: Config, env: Mapping[str, str], home: Path, project: Path) -> list[Check]:
    """Every check, in the order they are printed."""
    regs, checks = find_registrations(env, home, project)
    if not regs and not checks:
        fix = "install Claude Code or Codex, then relay setup claude|codex --apply"
        return [Check("clients", False, "neither Claude Code nor Codex found", fix), viewer_check(config)]
    probes = [probe(reg, env, project) for reg in regs]
    return [
        *checks,
        *probe_checks(probes),
        *shared_store_checks(probes),
        *hook_checks(env, home, project, regs),
        *codex_hook_checks(env, home, project, regs),
        *store_checks(probes),
        viewer_check(config),
    ]
