"""What ``relay setup`` prints works from an installed wheel, where there is no checkout and no scripts/.

The project is built into a wheel, installed into a fresh venv under tmp_path, and every command
``relay setup codex`` and ``relay setup claude`` print is run as a person would paste it: the Codex
``config.toml`` block, ``codex mcp add``, the automatic review loop, ``claude mcp add`` and the hooks
JSON. Stand-ins for ``codex`` and ``claude`` come first on PATH. The loop must answer a packet that
Claude's registered server posts, and the Stop hook must hand the verdict back.

The wheel's dependencies are not downloaded: the fresh venv sees those of the interpreter running the
tests through a .pth file, so the test needs no package index. What it checks is what the wheel itself
ships, and the venv's ``shared`` package is asserted to be the wheel's.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp.types import Implementation

from tests.e2e.conftest import child_env
from tests.e2e.test_review_loop import HANG_GUARD_S, PACKET, executable, stop_input, wait_for_file

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
NOT_SHIPPED = shutil.ignore_patterns(
    ".git", ".venv", "node_modules", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", "tests", "docs"
)


def run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=HANG_GUARD_S, **kwargs)
    assert done.returncode == 0, f"{argv}: {done.stderr}"
    return done


def install_wheel(tmp_path: Path) -> Path:
    """Build the wheel from a copy of the source and install it alone into a fresh venv; its bin/."""
    source = tmp_path / "source"
    shutil.copytree(REPO, source, ignore=NOT_SHIPPED)
    dist = tmp_path / "dist"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    run(
        [*pip, "wheel", "-q", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(dist), str(source)]
    )
    (wheel,) = dist.glob("claude_codex_relay-*.whl")
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    python = venv / "bin" / "python"
    run([*pip, "--python", str(python), "install", "-q", "--no-deps", "--no-index", str(wheel)])
    site = Path(
        run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip()
    )
    (site / "test-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    where = run(
        [str(python), "-c", "import shared, relay_stdio; print(shared.__file__, relay_stdio.__file__)"]
    )
    assert all(Path(path).is_relative_to(site) for path in where.stdout.split()), where.stdout
    assert not list(venv.rglob("codex-auto-review.sh"))  # nothing from scripts/ is shipped
    return venv / "bin"


def commands(out: str, after: str) -> list[str]:
    """The command lines printed after the comment line starting with ``after``, up to a blank line."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(after)) + 1
    block = []
    for line in lines[start:]:
        if not line.strip() or line.startswith("#"):
            break
        block.append(line)
    return block


def between(out: str, first: str, last: str) -> str:
    return out[out.index("\n", out.index(first)) + 1 : out.index(last)]


def registered(log: Path, key: str | None = None) -> list[str]:
    """The server command line a stand-in recorded for ``<client> mcp add ... relay -- COMMAND...``."""
    entries = [json.loads(line) for line in log.read_text().splitlines()]
    argv: list[str] = entries[-1][key] if key else entries[-1]
    return argv[argv.index("--") + 1 :]


async def serve(argv: list[str], home: Path, project: Path, client: str, text: str | None) -> set[str]:
    """Start a registered server as its client would, list its tools, and post ``text`` if given."""
    server = StdioServerParameters(command=argv[0], args=argv[1:], env=child_env(home), cwd=str(project))
    async with Client(server, client_info=Implementation(name=client, version="1")) as session:
        tools = {tool.name for tool in (await session.list_tools()).tools}
        if text is not None:
            posted = await session.call_tool("post_message", {"target": "proj-x", "text": text})
            assert not posted.is_error, posted.content
        return tools


def wait_for_position(state_file: Path, position: int, loop: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + HANG_GUARD_S
    while json.loads(state_file.read_text())["position"] != position:
        assert loop.poll() is None, loop.communicate()
        assert time.monotonic() < deadline, f"{state_file} never reached #{position}"
        time.sleep(0.05)


def test_the_commands_setup_prints_work_from_an_installed_wheel(tmp_path: Path) -> None:
    bindir = install_wheel(tmp_path)
    home, project, stand_ins = tmp_path / "home", tmp_path / "project", tmp_path / "stand-ins"
    for folder in (home, project, stand_ins):
        folder.mkdir()
    codex_log, claude_log = tmp_path / "codex.jsonl", tmp_path / "claude.jsonl"
    standin = REPO / "tests" / "e2e" / "standin_codex.py"
    executable(stand_ins / "codex", f"import runpy\nrunpy.run_path({str(standin)!r}, run_name='__main__')\n")
    executable(
        stand_ins / "claude",
        f"import json, sys\nwith open({str(claude_log)!r}, 'a') as f:\n"
        "    f.write(json.dumps(sys.argv[1:]) + '\\n')\n",
    )
    # Nothing of the development checkout on PATH: only the stand-ins and the system's tools.
    env = child_env(
        home, PATH=os.pathsep.join([str(stand_ins), "/usr/bin", "/bin"]), STANDIN_LOG=str(codex_log)
    )
    data = home / ".local" / "share" / "claude-codex-relay"

    codex_out = run([str(bindir / "relay"), "setup", "codex"], env=env, cwd=project).stdout
    claude_out = run(
        [str(bindir / "relay"), "setup", "claude", "--scope", "user"], env=env, cwd=project
    ).stdout
    assert "scripts/" not in codex_out + claude_out

    # Codex: the config.toml block as pasted, and codex mcp add.
    (home / ".codex").mkdir()
    (home / ".codex" / "config.toml").write_text(between(codex_out, "# Add to", "# Or register"))
    (codex_add,) = commands(codex_out, "# Or register")
    run(["bash", "-c", codex_add], env=env, cwd=project)
    codex_server = registered(codex_log, "mcp_add")
    assert Path(codex_server[0]).is_relative_to(bindir)
    assert "wait_for_messages" in anyio.run(serve, codex_server, home, project, "codex-mcp-client", None)

    # Claude Code: claude mcp add, and the hooks merged into ~/.claude/settings.json as printed.
    (claude_add,) = commands(claude_out, "# 1.")
    run(["bash", "-c", claude_add], env=env, cwd=project)
    claude_server = registered(claude_log)
    hooks = json.loads(between(claude_out, "# 2.", "# Store shared"))["hooks"]
    stop_command = hooks["Stop"][0]["hooks"][0]["command"]

    # The review loop, started as printed, answers Claude's packet through the stand-in codex.
    (loop_line,) = commands(codex_out, "# The automatic review loop")
    loop = subprocess.Popen(
        ["bash", "-c", loop_line], env=env, cwd=project, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        wait_for_file(data / "watch" / "proj-x--claude.json", loop)
        anyio.run(serve, claude_server, home, project, "claude-code", PACKET)
        stop = subprocess.run(
            ["bash", "-c", stop_command], input=stop_input("s1", False), env=env, cwd=project,
            capture_output=True, text=True, timeout=HANG_GUARD_S,
        )  # fmt: skip
        wait_for_position(data / "watch" / "proj-x--claude.json", 1, loop)  # the review run finished
    finally:
        if loop.poll() is None:
            os.killpg(loop.pid, signal.SIGTERM)  # as Ctrl+C or a service manager would stop it
        _, loop_err = loop.communicate(timeout=HANG_GUARD_S)
    assert loop.returncode == 143, loop_err.decode()  # stopped by SIGTERM, not failed
    assert "relay codex-auto-review: reviewing #1 on proj-x" in loop_err.decode()

    channel = [json.loads(line) for line in (data / "channels" / "proj-x.jsonl").read_text().splitlines()]
    assert [(m["id"], m["sender"], m.get("reply_to")) for m in channel] == [
        (1, "claude", None),
        (2, "codex", 1),
    ]
    assert channel[0]["text"] == PACKET and channel[1]["text"].startswith("## Verdict\nrequest changes")
    (review_run,) = [json.loads(line) for line in codex_log.read_text().splitlines() if '"argv"' in line]
    assert review_run["argv"][0] == "exec" and [m["id"] for m in review_run["fetched"]] == [1]
    assert stop.returncode == 0, stop.stderr
    answer = json.loads(stop.stdout)
    assert answer["decision"] == "block" and channel[1]["text"] in answer["reason"]
