"""The rotating logs under real multi-process load: every line kept once and intact, rotation bounded.

Each writer is a separate process (spawned, not forked) that calls ``setup_logging`` on the same files
with a tiny size limit, so rotations happen every few dozen lines while the others are writing.
"""

from __future__ import annotations

import itertools
import json
import logging
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import time
from collections import defaultdict
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

import pytest

from shared.config import Config, resolve_config
from shared.logs import flush_logs, log_tool_call, setup_logging
from shared.relay import Relay
from tests.reliability import count

WRITERS = 4
LINES = 1000
LINE = re.compile(
    r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO \[(?P<pid>\d+) relay\.tools\] stress (?P<fields>\{.*\})"
)


def _config(data_dir: str, max_bytes: int, backups: int) -> Config:
    return resolve_config(
        {
            "data_dir": data_dir,
            "log_max_bytes": max_bytes,
            "log_backup_count": backups,
            "channel_log_max_bytes": max_bytes,
            "channel_log_backup_count": backups,
        },
        env={},
    )


def _close_logs() -> None:
    flush_logs()  # a multiprocessing child ends with os._exit, which skips the flush at exit
    for name in ("relay", "relay.archive"):
        for handler in list(logging.getLogger(name).handlers):
            logging.getLogger(name).removeHandler(handler)
            handler.close()


def _log_writer(data_dir: str, max_bytes: int, backups: int, writer: int, start: Barrier) -> None:
    setup_logging(_config(data_dir, max_bytes, backups))
    start.wait()
    for seq in range(LINES):
        log_tool_call("stress", writer=writer, seq=seq, pad=_pad(writer, seq))
    _close_logs()


def _pad(writer: int, seq: int) -> str:
    # Lines of varying length, so rotation points fall everywhere, with content tied to (writer, seq).
    return f"{writer}-{seq}-" + "abcdefghij" * ((writer * 7 + seq) % 9)


def _run_writers(target: Any, args: tuple[Any, ...], count: int) -> None:
    ctx = multiprocessing.get_context("spawn")
    # Every writer sets up its handlers, then all start writing together.
    start = ctx.Barrier(count, timeout=120)
    procs = [ctx.Process(target=target, args=(*args, writer, start)) for writer in range(count)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(180)
    assert [proc.exitcode for proc in procs] == [0] * count


def _log_files(base: Path) -> list[Path]:
    """The log and its backups, oldest first; fails on a gap or a stray file left by a rotation."""
    names = {path.name for path in base.parent.iterdir() if path.name.startswith(base.name)}
    backups = sorted(int(name.rsplit(".", 1)[1]) for name in names - {base.name})
    assert names == {base.name} | {f"{base.name}.{n}" for n in backups}, sorted(names)
    assert backups == list(range(1, len(backups) + 1)), backups
    return [base.with_name(f"{base.name}.{n}") for n in reversed(backups)] + [base]


def _check_sizes(files: list[Path], max_bytes: int) -> None:
    """A file rotates once it has reached max_bytes, checked before each write: so every backup is at
    least max_bytes, and no file exceeds it by more than its last line."""
    for path in files:
        raw = path.read_bytes()
        assert raw.endswith(b"\n"), path
        last = raw[:-1].rsplit(b"\n", 1)[-1] + b"\n"
        assert len(raw) - len(last) < max_bytes, (path, len(raw))
        if path != files[-1]:
            assert len(raw) >= max_bytes, (path, len(raw))


def _read_stress_lines(files: list[Path]) -> list[tuple[int, int]]:
    """(writer, seq) of every line in write order; each line must be whole and match its writer."""
    seen: list[tuple[int, int]] = []
    pids: dict[int, set[str]] = defaultdict(set)
    for path in files:
        for line in path.read_text(encoding="utf-8").splitlines():
            match = LINE.fullmatch(line)
            assert match, f"interleaved or torn line in {path.name}: {line!r}"
            fields = json.loads(match["fields"])
            assert fields["pad"] == _pad(fields["writer"], fields["seq"]), line
            pids[fields["writer"]].add(match["pid"])
            seen.append((fields["writer"], fields["seq"]))
    assert all(len(p) == 1 for p in pids.values())  # one process per writer, as launched
    return seen


def _in_order_per_writer(seen: list[tuple[int, int]]) -> dict[int, list[int]]:
    per_writer: dict[int, list[int]] = defaultdict(list)
    for writer, seq in seen:
        per_writer[writer].append(seq)
    for writer, seqs in per_writer.items():
        assert seqs == sorted(seqs), f"writer {writer}'s lines are out of order across the rotated files"
    return per_writer


@pytest.mark.slow
def test_processes_logging_at_once_keep_every_line_once_and_intact(data_dir: Path) -> None:
    max_bytes, backups = 3000, 400
    _run_writers(_log_writer, (str(data_dir), max_bytes, backups), WRITERS)

    files = _log_files(data_dir / "log" / "claude_codex.log")
    assert 100 < len(files) < backups  # it rotated many times, and no backup was ever dropped
    _check_sizes(files, max_bytes)
    seen = _read_stress_lines(files)
    switches = sum(1 for one, two in itertools.pairwise(seen) if one[0] != two[0])
    assert switches >= WRITERS, "the writers did not overlap, so this run proved nothing about concurrency"
    assert sorted(seen) == [(w, s) for w in range(WRITERS) for s in range(LINES)]
    _in_order_per_writer(seen)
    count("logs.processes", WRITERS)
    count("logs.lines_checked", len(seen))
    count("logs.rotations", len(files) - 1)
    count("logs.writer_switches", switches)


@pytest.mark.slow
def test_rotation_keeps_at_most_backup_count_files_and_drops_only_the_oldest_lines(data_dir: Path) -> None:
    max_bytes, backups = 2048, 3
    _run_writers(_log_writer, (str(data_dir), max_bytes, backups), WRITERS)

    files = _log_files(data_dir / "log" / "claude_codex.log")
    assert len(files) == backups + 1
    _check_sizes(files, max_bytes)
    seen = _read_stress_lines(files)
    assert len(seen) == len(set(seen))
    # What survives is the newest part of the log: for each writer, its last lines with no gap.
    for writer, seqs in _in_order_per_writer(seen).items():
        assert seqs == list(range(seqs[0], LINES)), f"writer {writer} lost lines it wrote after {seqs[0]}"
    count("logs.processes", WRITERS)
    count("logs.lines_checked", len(seen))
    count("logs.backup_count_runs", 1)


SOURCES = ("mcp", "cli", "api", "web-ui")
POSTS = 120


def _poster(data_dir: str, max_bytes: int, backups: int, writer: int, start: Barrier) -> None:
    config = _config(data_dir, max_bytes, backups)
    setup_logging(config)
    relay = Relay(config)
    start.wait()
    for seq in range(POSTS):
        target = "proj-x" if seq % 3 else "codex"
        relay.post(target, f"w{writer} s{seq} " + "é" * (seq % 17), f"agent-{writer}", source=SOURCES[writer])
    _close_logs()


@pytest.mark.slow
def test_channel_archive_gets_one_json_line_per_posted_message_with_its_source(data_dir: Path) -> None:
    max_bytes, backups = 2048, 400
    _run_writers(_poster, (str(data_dir), max_bytes, backups), len(SOURCES))

    stored: dict[tuple[str, int], dict[str, Any]] = {}
    for channel in ("proj-x", "codex"):
        path = data_dir / "channels" / f"{channel}.jsonl"
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            stored[(record["target"], record["id"])] = record
    assert len(stored) == len(SOURCES) * POSTS

    files = _log_files(data_dir / "log" / "channel_messages.log")
    assert 10 < len(files) < backups
    _check_sizes(files, max_bytes)
    archived: dict[tuple[str, int], dict[str, Any]] = {}
    for path in files:
        for line in path.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)  # every line is one whole JSON record
            key = (record["target"], record["id"])
            assert key not in archived, f"{key} archived twice"
            archived[key] = record
    assert archived == stored
    for record in archived.values():
        writer = int(record["sender"].removeprefix("agent-"))
        assert record["source"] == SOURCES[writer]
        assert record["text"].startswith(f"w{writer} s")
    count("logs.processes", len(SOURCES))
    count("logs.archive_lines_checked", len(archived))
    count("logs.rotations", len(files) - 1)


def test_lines_are_written_in_call_order_and_warnings_reach_the_file_and_stderr(
    data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(str(data_dir), 1 << 20, 2)
    setup_logging(config)
    try:
        log_tool_call("first", n=1)
        logging.getLogger("relay.cursors").warning("ignoring unreadable read positions in %s", "x.json")
        log_tool_call("second", text='é \u2028 "quoted"', path=Path("/p"))
        logging.getLogger("relay.cursors").info("an info line is kept in the file only")
        flush_logs()
        lines = config.log_path.read_text(encoding="utf-8").removesuffix("\n").split("\n")  # not at U+2028
    finally:
        _close_logs()
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"
    pid = str(multiprocessing.current_process().pid)
    expected = [
        rf'{stamp} INFO \[{pid} relay\.tools\] first \{{"n": 1\}}',
        rf"{stamp} WARNING \[{pid} relay\.cursors\] ignoring unreadable read positions in x\.json",
        rf'{stamp} INFO \[{pid} relay\.tools\] second \{{"text": "é \u2028 \\"quoted\\"", "path": "/p"\}}',
        rf"{stamp} INFO \[{pid} relay\.cursors\] an info line is kept in the file only",
    ]
    assert len(lines) == len(expected), lines
    for line, pattern in zip(lines, expected, strict=True):
        assert re.fullmatch(pattern, line), (line, pattern)
    assert capsys.readouterr().err == "relay: WARNING ignoring unreadable read positions in x.json\n"


def _log_then(data_dir: str, ending: str) -> None:
    """A child that logs one line, then ends as ``ending`` says, without any explicit flush."""
    setup_logging(_config(data_dir, 1 << 20, 2))
    log_tool_call("last_words", ending=ending)
    if ending == "sigterm":
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(30)
    if ending == "fork":
        pid = os.fork()
        if pid == 0:  # the child logs its own line; the parent's queued one is not its to write
            log_tool_call("child_words", ending=ending)
            sys.exit(0)  # runs the child's exit handlers, as a forked worker that returns would
        os.waitpid(pid, 0)


@pytest.mark.parametrize("ending", ["return", "sigterm", "fork"])
def test_queued_lines_are_written_at_exit_on_sigterm_and_once_across_a_fork(
    data_dir: Path, ending: str
) -> None:
    code = f"from tests.test_logs import _log_then; _log_then({str(data_dir)!r}, {ending!r})"
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).parents[1],
    )
    assert done.returncode == (-signal.SIGTERM if ending == "sigterm" else 0), done.stderr
    lines = (data_dir / "log" / "claude_codex.log").read_text(encoding="utf-8").splitlines()
    names = sorted(line.split("] ", 1)[1].split(" ", 1)[0] for line in lines)
    assert names == (["child_words", "last_words"] if ending == "fork" else ["last_words"]), lines
