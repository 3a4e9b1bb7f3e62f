"""``relay check [--repair]``: every kind of damage reported with file and line, repaired without deleting."""

from __future__ import annotations

import json
import multiprocessing
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from relay_stdio.cli import main
from shared.errors import StoreError
from shared.storage.files.store import FileStore
from tests.reliability import count


def record(i: int, target: str = "t", text: str | None = None) -> bytes:
    body = {"id": i, "ts": 1.0 + i, "target": target, "sender": "s", "text": text or f"message {i}"}
    return (json.dumps(body) + "\n").encode()


@pytest.fixture
def runner(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("CLAUDE_CODEX_DATA_DIR", str(data_dir))
    return CliRunner()


def write_channel(store: FileStore, target: str, chunks: list[bytes]) -> Path:
    path = store.channel_path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(chunks))
    return path


def quarantines(store: FileStore, target: str) -> list[Path]:
    return sorted(store.channels_dir.glob(f"{target}.jsonl.quarantine-*"))


def test_a_clean_store_passes(runner: CliRunner, store: FileStore) -> None:
    for i in range(5):
        store.append("proj-x", "a", f"m{i}")
    result = runner.invoke(main, ["check"])
    assert result.exit_code == 0, result.output
    assert "checked 1 channel file(s), 5 line(s): 0 problem(s)" in result.output


DAMAGE = [
    (b"not json at all\n", "malformed line", "not valid JSON"),
    (b"\xff\xfe\xfd latin garbage\n", "invalid UTF-8", "byte 0"),
    (b'{"id": 4}\n', "malformed line", "without ts, target, sender, text"),
    (b"[" * 5000 + b"\n", "malformed line", "nested too deeply"),
    (b'{"id": 4, "ts": NaN, "target": "t", "sender": "s", "text": "x"}\n', "malformed line", "wrong type"),
    (b"\n", "malformed line", "empty line"),
    (record(2), "duplicate id", "id 2 was used"),
    (record(1, text="older"), "duplicate id", "id 1"),
]


@pytest.mark.parametrize(("bad", "kind", "detail"), DAMAGE)
def test_each_bad_line_is_reported_with_file_and_line_then_quarantined(
    runner: CliRunner, store: FileStore, bad: bytes, kind: str, detail: str
) -> None:
    original = [record(1), record(2), record(3), bad, record(4), record(5)]
    path = write_channel(store, "t", original)
    result = runner.invoke(main, ["check"])
    assert result.exit_code == 1, result.output
    assert f"{path}:4: {kind}: " in result.output and detail in result.output, result.output
    assert "1 problem(s)" in result.output
    assert path.read_bytes() == b"".join(original)  # checking alone changes nothing

    result = runner.invoke(main, ["check", "--repair"])
    assert result.exit_code == 0, result.output
    assert "1 repaired, 0 left" in result.output
    [quarantine] = quarantines(store, "t")
    assert quarantine.read_bytes() == bad if bad.endswith(b"\n") else bad + b"\n"
    assert path.read_bytes() == b"".join([record(1), record(2), record(3), record(4), record(5)])
    assert [m["id"] for m in store.read_since("t", 0, 100)[0]] == [1, 2, 3, 4, 5]
    count("check.damage_kinds_repaired")

    again = runner.invoke(main, ["check", "--repair"])  # idempotent: nothing more to do, no new file
    assert again.exit_code == 0 and "0 problem(s), 0 repaired" in again.output
    assert quarantines(store, "t") == [quarantine]
    assert runner.invoke(main, ["check"]).exit_code == 0


def test_torn_tail_and_a_long_bad_line_are_moved_and_nothing_is_deleted(
    runner: CliRunner, data_dir: Path
) -> None:
    store = FileStore(data_dir, max_message_bytes=1000)
    huge = b'{"id": 3, "text": "' + b"y" * 40_000 + b'"}\n'
    torn = b'{"id": 5, "ts": 1.0, "target": "t", "sen'
    original = [record(1), record(2), huge, record(3), record(4), torn]
    path = write_channel(store, "t", original)
    env = {"CLAUDE_CODEX_MAX_MESSAGE_BYTES": "1000"}
    result = runner.invoke(main, ["check"], env=env)
    assert result.exit_code == 1
    # Judged whole, though longer than this process would write: a line is read as far in every process.
    assert f"{path}:3: malformed line: a JSON object without ts, target, sender" in result.output
    assert f"{path}:6: torn tail: the last {len(torn)} byte(s) have no line end" in result.output
    result = runner.invoke(main, ["check", "--repair"], env=env)
    assert result.exit_code == 0, result.output
    [quarantine] = quarantines(store, "t")
    assert quarantine.read_bytes() == huge + torn + b"\n"
    kept = path.read_bytes()
    assert kept == b"".join([record(1), record(2), record(3), record(4)])
    # Nothing deleted: the lines of channel + quarantine are exactly the original lines.
    before = Counter((b"".join(original) + b"\n").splitlines())
    assert Counter((kept + quarantine.read_bytes()).splitlines()) == before
    assert store.append("t", "a", "next")["id"] == 5


def test_id_that_goes_back_is_reported_and_a_gap_is_only_a_note(runner: CliRunner, store: FileStore) -> None:
    path = write_channel(store, "t", [record(1), record(2), record(7), record(5), record(8)])
    result = runner.invoke(main, ["check"])
    assert f"{path}:3: id gap: id(s) 3-6 are missing" in result.output
    assert f"{path}:4: non-increasing id: id 5 comes after id 7" in result.output
    assert result.exit_code == 1 and "1 problem(s)" in result.output
    assert runner.invoke(main, ["check", "--repair"]).exit_code == 0
    assert [m["id"] for m in store.read_since("t", 0, 10)[0]] == [1, 2, 7, 8]
    result = runner.invoke(main, ["check"])
    assert result.exit_code == 0 and "id gap" in result.output  # a note, not a failure


def test_symlinked_channel_is_reported_and_moved_aside_without_touching_its_target(
    runner: CliRunner, store: FileStore, tmp_path: Path
) -> None:
    outside = tmp_path / "outside" / "secret.txt"
    outside.parent.mkdir()
    outside.write_bytes(record(1, text="secret"))
    before = (outside.read_bytes(), outside.stat().st_mtime_ns)
    store.append("good", "a", "fine")
    link = store.channel_path("evil")
    os.symlink(outside, link)
    result = runner.invoke(main, ["check"])
    assert result.exit_code == 1
    assert f"{link}: symlink: a symbolic link to {outside}" in result.output
    result = runner.invoke(main, ["check", "--repair"])
    assert result.exit_code == 0, result.output
    assert not os.path.lexists(link)
    [aside] = store.channels_dir.glob("evil.jsonl.moved-*")
    assert aside.is_symlink() and os.readlink(aside) == str(outside)
    assert (outside.read_bytes(), outside.stat().st_mtime_ns) == before
    assert store.append("evil", "a", "a fresh channel")["id"] == 1
    assert (outside.read_bytes(), outside.stat().st_mtime_ns) == before
    assert runner.invoke(main, ["check"]).exit_code == 0


def test_symlinked_lock_file_is_named_in_the_error_reported_and_moved_aside(
    runner: CliRunner, store: FileStore, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.lock"
    outside.write_bytes(b"not ours")
    before = (outside.read_bytes(), outside.stat().st_mtime_ns)
    store.append("t", "a", "one")
    lock = store.locks_dir / "t.lock"
    lock.unlink()
    os.symlink(outside, lock)
    with pytest.raises(StoreError) as caught:
        FileStore(store.data_dir).append("t", "a", "two")
    message = str(caught.value)
    assert message.startswith(f"lock file {lock} is a symbolic link") and "relay check --repair" in message
    assert "channel file" not in message
    result = runner.invoke(main, ["check"])
    assert result.exit_code == 1
    assert f"{lock}: bad lock file: a symbolic link to {outside}" in result.output
    assert "1 problem(s)" in result.output
    result = runner.invoke(main, ["check", "--repair"])
    assert result.exit_code == 0 and "1 repaired, 0 left" in result.output, result.output
    [aside] = store.locks_dir.glob("t.lock.moved-*")
    assert aside.is_symlink() and os.readlink(aside) == str(outside)
    assert not os.path.lexists(lock)
    assert FileStore(store.data_dir).append("t", "a", "two")["id"] == 2
    assert lock.is_file() and not lock.is_symlink()
    assert (outside.read_bytes(), outside.stat().st_mtime_ns) == before
    assert runner.invoke(main, ["check"]).exit_code == 0


def test_stray_files_are_reported_and_left_alone(runner: CliRunner, store: FileStore) -> None:
    store.append("t", "a", "x")
    strays = ["notes.txt", "UPPER.jsonl", "..hidden.jsonl", "t.jsonl.bak"]
    for name in strays:
        (store.channels_dir / name).write_text("keep me")
    (store.channels_dir / "folder.jsonl").mkdir()
    result = runner.invoke(main, ["check", "--repair"])
    assert result.exit_code == 1
    for name in strays:
        assert f"{store.channels_dir / name}: stray file: not a channel file" in result.output
        assert (store.channels_dir / name).read_text() == "keep me"
    assert f"{store.channels_dir / 'folder.jsonl'}: not a regular file" in result.output
    assert "0 repaired, 5 left" in result.output


def test_targets_limit_the_check_and_are_validated(runner: CliRunner, store: FileStore) -> None:
    write_channel(store, "bad", [record(1, "bad"), b"junk\n"])
    store.append("good", "a", "fine")
    assert runner.invoke(main, ["check", "good"]).exit_code == 0
    assert runner.invoke(main, ["check", "Bad"]).exit_code == 1
    result = runner.invoke(main, ["check", "../etc"])
    assert result.exit_code == 1 and result.output.startswith("Error: invalid target")


def _writer(data_dir: str, writer: int, acks: str, stop: Any) -> None:
    store = FileStore(Path(data_dir), lock_timeout_s=60)
    with open(acks, "a", encoding="utf-8") as out:
        seq = 0
        while not stop.is_set():
            got = store.append("busy", f"w{writer}", f"w{writer}-{seq}")
            out.write(f"{got['id']} w{writer}-{seq}\n")
            out.flush()
            seq += 1


@pytest.mark.slow
def test_repair_while_agents_post_loses_no_post(data_dir: Path, tmp_path: Path) -> None:
    store = FileStore(data_dir)
    bad_lines = [b"garbage one\n", b"\xff\n", b'{"id": 1}\n']
    write_channel(store, "busy", [record(1, "busy"), *bad_lines, record(2, "busy")])
    ctx = multiprocessing.get_context("spawn")
    stop = ctx.Event()
    acks = [tmp_path / f"acks-{w}" for w in range(2)]
    procs = [ctx.Process(target=_writer, args=(str(data_dir), w, str(acks[w]), stop)) for w in range(2)]
    for proc in procs:
        proc.start()
    try:
        while store.stats("busy").latest_id < 200:  # both writers are posting
            time.sleep(0.01)
        env = {**os.environ, "CLAUDE_CODEX_DATA_DIR": str(data_dir)}
        relay = [sys.executable, "-c", "from relay_stdio.cli import main; main()"]
        command = [*relay, "check", "--repair", "busy"]
        done = subprocess.run(command, env=env, capture_output=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        at_repair = store.stats("busy").latest_id
        while store.stats("busy").latest_id < at_repair + 200:  # and they went on posting afterwards
            time.sleep(0.01)
    finally:
        stop.set()
        for proc in procs:
            proc.join(120)
    assert [proc.exitcode for proc in procs] == [0, 0]
    records = [json.loads(line) for line in store.channel_path("busy").read_bytes().splitlines()]
    assert [r["id"] for r in records] == list(range(1, len(records) + 1))
    by_id = {r["id"]: r["text"] for r in records}
    acked = [line.split(" ", 1) for path in acks for line in path.read_text().splitlines()]
    assert len(acked) == len(records) - 2
    for ident, text in acked:
        assert by_id[int(ident)] == text
    assert len({r["text"] for r in records}) == len(records)
    [quarantine] = quarantines(store, "busy")
    assert quarantine.read_bytes() == b"".join(bad_lines)
    count("check.posts_during_repair_checked", len(acked))
