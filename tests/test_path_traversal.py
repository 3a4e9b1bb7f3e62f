"""Hostile names through every front end: nothing outside the data dir is ever created or changed.

Each test snapshots the trees around the data dir (every path, type, size, mtime and content hash),
throws a corpus of hostile channel and sender names at the store, the relay, the MCP tools, the CLI
and the configuration, and compares. Inside the data dir only well-formed names may appear.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from mcp import Client, StdioServerParameters

from relay_stdio.cli import main
from relay_stdio.identity import identity_from_client
from relay_stdio.server import build_server
from shared.config import resolve_config
from shared.errors import ConfigError, RelayError
from shared.fsutil import identity_filename
from shared.relay import Relay
from tests.e2e.conftest import child_env, relay_stdio_command
from tests.reliability import count

PROBE = "/tmp/relay-traversal-probe"
HOSTILE = [
    "../x", "..", ".", "/etc/passwd", "a/../../b", "../../../../../../etc/shadow", "%2e%2e", "%2e%2e%2fx",
    "..%2f..%2fx", "%252e%252e", "x\x00y", "\x00", "..\x00/x", "%00", "x%00.jsonl", "..\\..\\x", "a\\b",
    "C:\\x", "C:x", "\\\\server\\share", "．．／x", "‥/x", "..\u2215x", "..\u2044x", "\u2024\u2024/x",
    "prоj-x", "proj-x/../proj-y", "proj-x\n", " proj-x", "proj-x\r\n../x", "\t../x", "\n", "~/x", "~root",
    "$HOME", "`id`", "$(touch pwned)", "*", "?", "[a]", "-rf", "--help", "a" * 65, "a" * 10_000,
    "../" * 100 + "x", "/", "//x", "x/", "x/.", "./x", ".x", "x..", "x.jsonl", "x.lock", "con", "nul",
    "\u202e..", "\ufeffx", "x\u0301", PROBE, PROBE + "/../x", "proj-x\u200b", "ＰＲＯＪ-Ｘ", "İ", "ß",
]  # fmt: skip
SAFE_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
SAFE_CURSOR = re.compile(r"[A-Za-z0-9_%-]+(~[0-9a-f]{32})?\.json(\.lock)?")


def snapshot(root: Path, skip: Path | None = None) -> dict[str, tuple[Any, ...]]:
    """Every path under ``root`` (``skip`` excluded) -> (kind, size, mtime, content hash)."""
    found: dict[str, tuple[Any, ...]] = {}
    for folder, dirs, files in os.walk(root):
        if skip is not None and Path(folder) == skip:
            dirs.clear()
            continue
        for name in dirs + files:
            path = Path(folder) / name
            if skip is not None and path == skip:
                continue
            info = path.lstat()
            digest = ""
            if path.is_file() and not path.is_symlink():
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
            found[str(path)] = (path.is_symlink(), path.is_dir(), info.st_size, info.st_mtime_ns, digest)
    return found


def absolute_candidates() -> list[Path]:
    paths = [Path("/etc/passwd"), Path("/etc/shadow"), Path("/x"), Path("/b")]
    for base in (PROBE, "/tmp/x", "/etc/passwd"):
        paths += [Path(base + suffix) for suffix in ("", ".jsonl", ".lock", ".json")]
    return paths


def state_of(path: Path) -> tuple[Any, ...]:
    try:
        info = path.lstat()
    except OSError:
        return ("absent",)
    digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
    return (info.st_size, info.st_mtime_ns, digest)


class Sandbox:
    """A data dir three levels down a watched tree, with bait files where a traversal would land."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data_dir = root / "deep" / "er" / "data"
        self.data_dir.mkdir(parents=True)
        for bait in ("x", "b", "deep/x", "deep/er/x", "etc/passwd", "deep/er/proj-y.jsonl"):
            (root / bait).parent.mkdir(parents=True, exist_ok=True)
            (root / bait).write_text("bait: must never change\n")
        self.before = snapshot(root, skip=self.data_dir)
        self.home = Path.cwd()  # the test's working dir (a temporary home)
        self.home_before = snapshot(self.home)
        self.outside = {path: state_of(path) for path in absolute_candidates()}

    def verify(self) -> int:
        """Assert nothing outside the data dir changed and every name inside it is well-formed."""
        assert snapshot(self.root, skip=self.data_dir) == self.before
        assert snapshot(self.home) == self.home_before
        assert {path: state_of(path) for path in absolute_candidates()} == self.outside
        names = 0
        for folder, dirs, files in os.walk(self.data_dir):
            where = Path(folder).relative_to(self.data_dir)
            assert str(where) in (".", "channels", "locks", "cursors", "log"), where
            for name in dirs + files:
                assert not (Path(folder) / name).is_symlink(), name
                names += 1
                if str(where) == "channels":
                    assert name.endswith(".jsonl") and SAFE_NAME.fullmatch(name[: -len(".jsonl")]), name
                elif str(where) == "locks":
                    assert name.endswith(".lock") and SAFE_NAME.fullmatch(name[: -len(".lock")]), name
                elif str(where) == "cursors":
                    assert SAFE_CURSOR.fullmatch(name), name
                elif str(where) == ".":
                    assert name in ("channels", "locks", "cursors", "log"), name
        return names


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    box = Sandbox(tmp_path / "sandbox")
    yield box
    box.verify()


def attempt(action: Callable[[], object]) -> str:
    """Run one hostile call: it either succeeds inside the store or raises one of the relay's errors."""
    count("traversal.attempts")
    try:
        action()
    except RelayError as exc:
        assert str(exc) and "Traceback" not in str(exc)
        return "refused"
    return "accepted"


def test_store_and_relay_confine_every_name(sandbox: Sandbox) -> None:
    relay = Relay(resolve_config({"data_dir": str(sandbox.data_dir)}, env={}))
    store = relay.store
    outcomes = []
    for name in HOSTILE:
        outcomes.append(attempt(lambda n=name: store.append(n, "a", "x")))  # type: ignore[misc]
        attempt(lambda n=name: store.read_last(n, 5))  # type: ignore[misc]
        attempt(lambda n=name: store.read_since(n, 0, 5))  # type: ignore[misc]
        attempt(lambda n=name: store.stats(n))  # type: ignore[misc]
        attempt(lambda n=name: relay.post("t", "hi", n, source="api"))  # type: ignore[misc]
        attempt(lambda n=name: relay.fetch("t", identity=n))  # type: ignore[misc]
        attempt(lambda n=name: relay.fetch("t", identity=identity_from_client(n)))  # type: ignore[misc]
    assert "refused" in outcomes and "accepted" in outcomes
    relay.channels()
    count("traversal.payloads", len(HOSTILE))
    sandbox.verify()


def test_identity_file_names_are_short_and_plain_for_any_sender() -> None:
    for name in [*HOSTILE, "🎉" * 64, "名前" * 32, "a" * 64, "Ü" * 64]:
        if "\x00" in name or not name.strip() or len(name.strip()) > 64:
            continue
        filename = identity_filename(name)
        assert SAFE_CURSOR.fullmatch(filename) and len(filename.encode()) <= 255, filename
    assert identity_filename("🎉" * 64) != identity_filename("🎉" * 63 + "🎊")


@pytest.mark.anyio
async def test_mcp_tools_confine_every_name(sandbox: Sandbox) -> None:
    relay = Relay(resolve_config({"data_dir": str(sandbox.data_dir)}, env={}))
    async with Client(build_server(relay, identity="agent"), raise_exceptions=True) as client:
        for name in HOSTILE:
            for tool, args in [
                ("post_message", {"target": name, "text": "x"}),
                ("post_message", {"target": "t", "text": "x", "sender": name}),
                ("fetch_messages", {"target": name}),
                ("fetch_messages", {"target": name, "since_id": 0}),
            ]:
                count("traversal.attempts")
                result = await client.call_tool(tool, args)
                if result.is_error:
                    assert "Traceback" not in result.content[0].text  # type: ignore[union-attr]
        assert not (await client.call_tool("list_channels", {})).is_error
    for name in HOSTILE:  # the server's own identity, used as the read-position file name
        async with Client(build_server(relay, identity=name), raise_exceptions=True) as client:
            count("traversal.attempts")
            await client.call_tool("fetch_messages", {"target": "t"})
    sandbox.verify()


def test_cli_commands_confine_every_name(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAUDE_CODEX_DATA_DIR", str(sandbox.data_dir))
    monkeypatch.chdir(sandbox.data_dir.parent)
    runner = CliRunner()
    for name in HOSTILE:
        for args in (
            ["post", "--", name, "text"],
            ["tail", "--", name],
            ["tail", "--since", "0", "--", name],
            ["check", "--", name],
            ["check", "--repair", "--", name],
            [f"--sender={name}", "post", "t", "from a hostile sender"],
        ):
            count("traversal.attempts")
            result = runner.invoke(main, args)
            assert result.exit_code in (0, 1, 2), (args, result.output)
            assert result.exception is None or isinstance(result.exception, SystemExit), (args, result.output)
    sandbox.verify()


def test_configured_channels_confine_every_name(sandbox: Sandbox, tmp_path: Path) -> None:
    for name in HOSTILE:
        for source in ("env", "file"):
            count("traversal.attempts")
            if source == "env":
                env = {"CLAUDE_CODEX_CHANNELS": name}
                options: dict[str, Any] = {"data_dir": str(sandbox.data_dir)}
            else:
                config_file = tmp_path / "config.json"
                config_file.write_text(json.dumps({"channels": [name], "data_dir": str(sandbox.data_dir)}))
                env, options = {}, {"config": str(config_file)}
            try:
                config = resolve_config(options, env=env)
            except ConfigError as exc:
                assert str(exc).startswith("channels = ") and "from " in str(exc)
                continue
            Relay(config).channels()
    sandbox.verify()


@pytest.mark.slow
@pytest.mark.e2e
@pytest.mark.anyio
async def test_real_processes_confine_hostile_names(sandbox: Sandbox, tmp_path: Path) -> None:
    usable = [n for n in HOSTILE if "\x00" not in n and len(n) < 1000]
    command = relay_stdio_command()
    for sender in ["../../x", "/etc/passwd", "%2e%2e", "🎉" * 64, "..\\..\\x"]:
        server = StdioServerParameters(
            command=command[0],
            args=[*command[1:], "--data-dir", str(sandbox.data_dir), "--sender", sender],
            env=child_env(tmp_path),
            cwd=str(sandbox.data_dir.parent),
        )
        async with Client(server) as client:
            for name in usable:
                count("traversal.attempts", 2)
                await client.call_tool("post_message", {"target": name, "text": "x"})
                await client.call_tool("fetch_messages", {"target": name})
            fetched = await client.call_tool("fetch_messages", {"target": "t"})
            assert not fetched.is_error, fetched.content
    env = {**os.environ, "CLAUDE_CODEX_DATA_DIR": str(sandbox.data_dir)}
    relay_cli = [sys.executable, "-c", "from relay_stdio.cli import main; main()"]
    for name in usable[:20]:
        for args in (["post", "--", name, "x"], [f"--sender={name}", "post", "t", "x"]):
            count("traversal.attempts")
            done = subprocess.run(
                [*relay_cli, *args], env=env, cwd=sandbox.data_dir.parent, capture_output=True, text=True
            )
            assert "Traceback" not in done.stderr, done.stderr
    done = subprocess.run(
        [*command, "--data-dir", str(sandbox.data_dir)],
        input="",
        capture_output=True,
        text=True,
        env=child_env(tmp_path, CLAUDE_CODEX_CHANNELS="../x"),
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("relay-stdio: channels = '../x' from env CLAUDE_CODEX_CHANNELS: invalid")
    sandbox.verify()
