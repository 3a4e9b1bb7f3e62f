"""A full disk and an unwritable data dir: clear errors, valid files, and recovery once fixed.

A full disk is a 1 MiB tmpfs when this runs as root and may mount (as on CI), else a file-size limit
(``RLIMIT_FSIZE``) on the posting process; both make the kernel refuse the write part-way through.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from shared.storage.files.store import FileStore
from tests.e2e.conftest import child_env, relay_stdio_command
from tests.e2e.web_server import free_port, relay_web_command
from tests.reliability import count, note

RELAY = [sys.executable, "-c", "from relay_stdio.cli import main; main()"]


def mount_tmpfs(where: Path, options: str) -> bool:
    """Mount a tmpfs at ``where``; False when this process may not mount (not root, no CAP_SYS_ADMIN)."""
    if os.geteuid() != 0:
        return False
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True)
    return done.returncode == 0


def unmount(where: Path) -> None:
    if subprocess.run(["umount", str(where)], capture_output=True).returncode != 0:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def relay(
    data_dir: Path, *args: str, stdin: str = "", file_size_limit: int | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CLAUDE_CODEX_DATA_DIR": str(data_dir)}
    command = [*RELAY, *args]
    if file_size_limit is not None:
        command = [*limited(file_size_limit), *command]
    return subprocess.run(command, input=stdin, env=env, capture_output=True, text=True, timeout=120)


def assert_valid_channel(path: Path, texts: list[str]) -> None:
    raw = path.read_bytes()
    assert raw.endswith(b"\n")
    records = [json.loads(line) for line in raw.splitlines()]
    assert [r["id"] for r in records] == list(range(1, len(texts) + 1))
    assert [r["text"] for r in records] == texts


def assert_clean_failure(done: subprocess.CompletedProcess[str], reason: str) -> None:
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert done.stdout == ""
    assert done.stderr.startswith("Error: could not write to channel 't': "), done.stderr
    assert reason in done.stderr and "Nothing was posted" in done.stderr
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1, done.stderr


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Iterator[Path | None]:
    disk = tmp_path / "disk"
    if not mount_tmpfs(disk, "size=1m"):
        yield None
        return
    try:
        yield disk
    finally:
        unmount(disk)


def fill(folder: Path) -> list[Path]:
    """Fill the filesystem of ``folder`` with 4 KiB ballast files until it refuses more."""
    ballast = []
    block = b"b" * 4096
    for i in range(100_000):
        path = folder / f"ballast-{i}"
        try:
            with path.open("wb") as out:
                out.write(block)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
            path.unlink(missing_ok=True)
            return ballast
        ballast.append(path)
    raise AssertionError("the filesystem never filled up")


def limited(limit: int) -> list[str]:
    """A command prefix that runs the rest under RLIMIT_FSIZE=``limit`` (no preexec_fn: thread-safe)."""
    # Python ignores SIGXFSZ, and an ignored signal stays ignored across exec: writes get EFBIG.
    code = (
        "import os, resource, signal, sys; signal.signal(signal.SIGXFSZ, signal.SIG_IGN); "
        "hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]; "
        "resource.setrlimit(resource.RLIMIT_FSIZE, (int(sys.argv[1]), hard)); "
        "os.execv(sys.argv[2], sys.argv[2:])"
    )
    return [sys.executable, "-c", code, str(limit)]


@pytest.mark.slow
@pytest.mark.anyio
async def test_a_full_disk_fails_the_post_clearly_and_recovers(
    tiny_tmpfs: Path | None, tmp_path: Path
) -> None:
    if tiny_tmpfs is None:  # not root, or a container without mount rights: a file-size limit instead
        note("disk.mechanism", "RLIMIT_FSIZE (tmpfs mount not permitted)")
        _full_disk_by_file_size_limit(tmp_path / "data")
        return
    note("disk.mechanism", "1 MiB tmpfs")
    data_dir = tiny_tmpfs / "data"
    texts = [f"before {i} " + "x" * 2000 for i in range(3)]
    for text in texts:
        assert relay(data_dir, "post", "t", text).returncode == 0
    channel = FileStore(data_dir).channel_path("t")
    ballast = fill(tiny_tmpfs)
    failures = 0
    for size in (5000, 20_000, 200_000):  # more than the slack left in the file's last page
        done = relay(data_dir, "post", "t", "-", stdin="y" * size)
        assert_clean_failure(done, "No space left on device")
        assert_valid_channel(channel, texts)
        failures += 1
    # A real relay-stdio on the full disk: a tool error, the server stays up, reads keep working.
    server = StdioServerParameters(
        command=relay_stdio_command()[0],
        args=[*relay_stdio_command()[1:], "--data-dir", str(data_dir), "--sender", "agent"],
        env=child_env(tmp_path),
    )
    async with Client(server) as client:
        result = await client.call_tool("post_message", {"target": "t", "text": "z" * 50_000})
        assert result.is_error
        message = result.content[0].text  # type: ignore[union-attr]
        assert "No space left on device" in message and "Nothing was posted" in message
        fetched = await client.call_tool("fetch_messages", {"target": "t", "since_id": 0})
        assert [m["text"] for m in fetched.structured_content["messages"]] == texts  # type: ignore[index]
        failures += 1
        assert_valid_channel(channel, texts)
        for path in ballast[: len(ballast) // 2]:  # free space: posting works again, ids continue
            path.unlink()
        again = await client.call_tool("post_message", {"target": "t", "text": "after freeing space"})
        assert not again.is_error and again.structured_content["posted"] == 4  # type: ignore[index]
    done = relay(data_dir, "post", "t", "from the CLI too")
    assert done.returncode == 0 and "posted #5" in done.stdout
    assert_valid_channel(channel, [*texts, "after freeing space", "from the CLI too"])
    count("disk.full_disk_posts_refused", failures)


def _full_disk_by_file_size_limit(data_dir: Path) -> None:
    texts = [f"before {i} " + "x" * 2000 for i in range(3)]
    for text in texts:
        assert relay(data_dir, "post", "t", text).returncode == 0
    channel = FileStore(data_dir).channel_path("t")
    limit = channel.stat().st_size + 1000
    for size in (3000, 20_000):  # the kernel writes up to the limit, then refuses
        done = relay(data_dir, "post", "t", "-", stdin="y" * size, file_size_limit=limit)
        assert_clean_failure(done, "File too large")
        assert_valid_channel(channel, texts)
        count("disk.full_disk_posts_refused")
    assert relay(data_dir, "post", "t", "after").returncode == 0
    assert_valid_channel(channel, [*texts, "after"])


@pytest.mark.slow
def test_a_write_cut_off_by_a_file_size_limit_leaves_the_channel_valid(tmp_path: Path) -> None:
    _full_disk_by_file_size_limit(tmp_path / "data")


@pytest.fixture
def read_only_store(tmp_path: Path) -> Iterator[tuple[str, Path | None]]:
    """A data dir that cannot be written: a read-only tmpfs (root), else a folder without write permission.

    None when neither can be made (root without mount rights); the file-in-the-way case still runs.
    """
    where = tmp_path / "ro"
    if mount_tmpfs(where, "size=256k"):
        try:
            FileStore(where).append("t", "someone", "written before it went read-only")
            subprocess.run(["mount", "-o", "remount,ro", str(where)], check=True)
            yield "read-only filesystem", where
        finally:
            unmount(where)
        return
    if os.geteuid() == 0:  # root ignores permissions, and may not mount here
        yield "none (root without mount rights)", None
        return
    FileStore(where).append("t", "someone", "written before it went read-only")
    for folder in (where, where / "channels", where / "locks"):
        folder.chmod(0o555)
    try:
        yield "permission denied", where
    finally:
        for folder in (where, where / "channels", where / "locks"):
            folder.chmod(0o755)


def _file_in_the_way(tmp_path: Path) -> Path:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the data dir's parent should be")
    return blocker / "data"


@pytest.mark.parametrize("program", ["relay-stdio", "relay post", "relay tail", "relay-web"])
def test_an_unwritable_data_dir_is_a_clear_error_at_start_up(
    read_only_store: tuple[str, Path | None], tmp_path: Path, program: str
) -> None:
    kind, data_dir = read_only_store
    for where in (data_dir, _file_in_the_way(tmp_path)):
        if where is None:
            continue
        done = _start(program, where, tmp_path)
        prefix = "relay-stdio: " if program == "relay-stdio" else "Error: "  # click's prefix for the others
        # A file where a folder should be is named as such, not as "not writable (Not a directory)".
        problem = f"cannot be created: {where.parent} is a file" if where != data_dir else "is not writable"
        assert done.stderr.startswith(f"{prefix}data dir {where} {problem}"), done.stderr
        assert "--data-dir or CLAUDE_CODEX_DATA_DIR" in done.stderr and "Not a directory" not in done.stderr
        assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1, done.stderr
        assert done.stdout == "" and done.returncode in (1, 2)
        count("disk.unwritable_start_ups_refused")
    note("disk.read_only_mechanism", kind)


def _start(program: str, data_dir: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    if program == "relay-stdio":
        # A client would send initialize; the server must refuse before reading anything.
        command = [*relay_stdio_command(), "--data-dir", str(data_dir)]
        return subprocess.run(
            command, input="", capture_output=True, text=True, timeout=60, env=child_env(tmp_path)
        )
    if program == "relay-web":
        # It must refuse before it listens: the port is never opened, so no request is needed.
        command = [*relay_web_command(), "--data-dir", str(data_dir), "--port", str(free_port())]
        return subprocess.run(
            command, input="", capture_output=True, text=True, timeout=60, env=child_env(tmp_path)
        )
    args = ["post", "t", "hello"] if program == "relay post" else ["tail", "t"]
    return relay(data_dir, *args)


def _texts(result: object) -> list[str]:
    assert not result.is_error, result.content  # type: ignore[attr-defined]
    return [m["text"] for m in result.structured_content["messages"]]  # type: ignore[attr-defined]


@asynccontextmanager
async def _agent(data_dir: Path, tmp_path: Path, file_size_limit: int | None = None) -> AsyncIterator[Client]:
    """A client of a relay-stdio for identity "agent"; its stderr goes to ``tmp_path/agent.stderr``."""
    command = [*relay_stdio_command(), "--data-dir", str(data_dir), "--sender", "agent"]
    if file_size_limit is not None:
        command = [*limited(file_size_limit), *command]
    params = StdioServerParameters(command=command[0], args=command[1:], env=child_env(tmp_path))
    with (tmp_path / "agent.stderr").open("a", encoding="utf-8") as errlog:
        async with Client(stdio_client(params, errlog=errlog)) as client:
            yield client


@pytest.mark.slow
@pytest.mark.anyio
async def test_a_full_disk_still_returns_unread_messages_and_keeps_the_read_position(
    tiny_tmpfs: Path | None, tmp_path: Path
) -> None:
    # fetch_messages without since_id (the agents' default read) saves the position after reading;
    # on a full disk the read must still answer, the position stay put, and no temporary file remain.
    data_dir = (tiny_tmpfs or tmp_path) / "data"
    note("disk.read_position_mechanism", "1 MiB tmpfs" if tiny_tmpfs else "RLIMIT_FSIZE")
    assert relay(data_dir, "post", "t", "seen before").returncode == 0
    async with _agent(data_dir, tmp_path) as client:
        assert _texts(await client.call_tool("fetch_messages", {"target": "t"})) == ["seen before"]
    unread = [f"unread {i}" for i in range(3)]
    for text in unread:
        assert relay(data_dir, "post", "t", text).returncode == 0
    ballast = fill(tiny_tmpfs) if tiny_tmpfs else []
    # Without a tmpfs, a file-size limit of a few bytes: the position's small file cannot be written.
    async with _agent(data_dir, tmp_path, None if tiny_tmpfs else 4) as client:
        for _ in range(3):  # every try answers with the same messages: the position did not move
            assert _texts(await client.call_tool("fetch_messages", {"target": "t"})) == unread
            count("disk.reads_answered_on_a_full_disk")
    assert sorted(p.name for p in (data_dir / "cursors").iterdir()) == ["agent.json", "agent.json.lock"]
    if tiny_tmpfs:  # (a file-size limit would cut the server's stderr file too)
        stderr = (tmp_path / "agent.stderr").read_text(encoding="utf-8")
        warning = f"relay: WARNING cannot save the read position in {data_dir / 'cursors' / 'agent.json'}: "
        assert stderr.count(warning) == 3, stderr
        assert "No space left on device" in stderr and "messages up to #4 were returned anyway" in stderr
    for path in ballast:
        path.unlink()
    # With space again, the identity reads from where it was, once, and the position then moves on.
    assert relay(data_dir, "post", "t", "after freeing space").returncode == 0
    async with _agent(data_dir, tmp_path) as client:
        again = await client.call_tool("fetch_messages", {"target": "t"})
        assert _texts(again) == [*unread, "after freeing space"]
        assert _texts(await client.call_tool("fetch_messages", {"target": "t"})) == []
