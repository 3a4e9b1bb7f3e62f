"""Writer and reader processes for the fault tests, and the checks they share.

Kept free of pytest so a ``forkserver`` can preload it: writers then start in a few milliseconds and
can be killed hundreds of times per run. Every text is derived from its ``<writer>:<seq>:`` header, so
any reader can tell an exact record from a torn, mixed or altered one.
"""

from __future__ import annotations

import json
import logging
import os
import random
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.config import resolve_config
from shared.errors import StoreBusy
from shared.logs import setup_logging
from shared.relay import Relay
from shared.storage.files import jsonl
from shared.storage.files.store import FileStore

PIECES = ["a", "é", "✓", "🎉", " ", "\n", '"', "\\", "\t", "‏", "日本"]


def text_for(writer: str, seq: int) -> str:
    """The exact text ``writer`` posts as its ``seq``-th message: mostly short, a few 40,000 characters."""
    rng = random.Random(f"{writer}:{seq}")
    roll = rng.random()
    size = rng.randint(1, 200) if roll < 0.94 else rng.randint(1_000, 8_000) if roll < 0.99 else 40_000
    body = "".join(rng.choice(PIECES) for _ in range(min(size, 400)))
    body = (body * (size // max(1, len(body)) + 1))[:size]
    return f"{writer}:{seq}:{body}"


def verify_text(text: Any) -> tuple[str, int]:
    """Return (writer, seq) of a text made by :func:`text_for`, or raise AssertionError."""
    assert isinstance(text, str), f"text is {type(text).__name__}"
    writer, seq, _ = text.split(":", 2)
    assert text == text_for(writer, int(seq)), f"text of {writer}:{seq} differs from what was posted"
    return writer, int(seq)


def verify_record(record: Any, target: str) -> tuple[str, int]:
    """Check one record a reader returned: every field present and exact."""
    assert isinstance(record, dict), f"record is {type(record).__name__}"
    assert type(record["id"]) is int and record["id"] >= 1, record.get("id")
    assert isinstance(record["ts"], float), record.get("ts")
    assert record["target"] == target, record.get("target")
    writer, seq = verify_text(record["text"])
    assert record["sender"] == writer, (record["sender"], writer)
    return writer, seq


def _write_line(fd: int, line: str) -> None:
    os.write(fd, line.encode())  # one write: a kill leaves the ack whole or absent


def writer(
    data_dir: str, name: str, targets: list[str], acks: str, mode: str, fsync: bool, logs: str
) -> None:
    """Post forever (until killed or stopped) and append ``target id seq`` to ``acks`` after each success."""
    warnings = logging.FileHandler(logs, encoding="utf-8")
    logging.getLogger("relay.store").addHandler(warnings)
    options = {"data_dir": data_dir, "lock_timeout_s": 30, "fsync": fsync}
    config = resolve_config(options, env={})
    if mode == "relay":
        setup_logging(config, stderr_level=logging.CRITICAL)
    relay = Relay(config)
    fd = os.open(acks, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    rng = random.Random(name)
    try:
        for seq in range(10**9):
            target = rng.choice(targets)
            text = text_for(name, seq)
            if mode == "relay":
                record = relay.post(target, text, name, source="cli")
            else:
                record = relay.store.append(target, name, text)
            _write_line(fd, f"{target} {record['id']} {seq}\n")
    except Exception:
        logging.getLogger("relay.store").exception("writer %s failed", name)
        raise


@dataclass
class ReaderStats:
    reads: int = 0
    records: int = 0
    errors: list[str] = field(default_factory=list)


def reader(data_dir: str, targets: list[str], stop_file: str, out: str, seed: int) -> None:
    """Read with every store call until ``stop_file`` exists; validate every record; write a summary."""
    store = FileStore(Path(data_dir), lock_timeout_s=30)
    rng = random.Random(seed)
    stats = ReaderStats()
    latest = dict.fromkeys(targets, 0)
    while not os.path.exists(stop_file):
        target = rng.choice(targets)
        try:
            stats.records += _one_read(store, target, rng, latest)
        except AssertionError as exc:
            if len(stats.errors) < 20:
                stats.errors.append(f"{target}: {exc!r}")
        stats.reads += 1
        time.sleep(0.001)  # leave the CPU to the writers being killed
    Path(out).write_text(json.dumps(stats.__dict__), encoding="utf-8")


def _contiguous(records: list[dict[str, Any]], target: str) -> None:
    for record in records:
        verify_record(record, target)
    ids = [r["id"] for r in records]
    assert ids == list(range(ids[0], ids[0] + len(ids))) if ids else True, f"ids not contiguous: {ids[:50]}"


def _one_read(store: FileStore, target: str, rng: random.Random, latest: dict[str, int]) -> int:
    choice = rng.random()
    if choice < 0.35:
        limit = rng.choice([1, 2, 5, 50, 200])
        records = store.read_last(target, limit)
        _contiguous(records, target)
        assert len(records) <= limit
        if records:
            assert records[-1]["id"] >= latest[target], "the latest id went backwards"
            latest[target] = records[-1]["id"]
        return len(records)
    if choice < 0.8:
        since = rng.randint(0, latest[target] + 5)
        limit = rng.choice([1, 3, 50, 200])
        records, more = store.read_since(target, since, limit)
        _contiguous(records, target)
        assert len(records) <= limit
        if records:
            assert records[0]["id"] == since + 1, f"read_since({since}) started at {records[0]['id']}"
        if since < latest[target]:
            assert records, f"read_since({since}) returned nothing below the seen latest {latest[target]}"
        assert not more or len(records) == limit
        return len(records)
    if choice < 0.95:
        stats = store.stats(target)
        assert stats.latest_id >= latest[target], "stats went backwards"
        assert stats.count == stats.latest_id
        if stats.latest_id:
            assert stats.last_sender is not None and stats.last_ts is not None
        latest[target] = stats.latest_id
        return 0
    for stats in store.list_channels():
        assert stats.target in latest, f"unexpected channel {stats.target}"
    return 0


@dataclass
class ChannelCheck:
    records: int
    acked: int
    unacked: int


def read_acks(paths: Iterable[Path]) -> dict[str, dict[int, str]]:
    """target -> id -> expected header ``writer:seq``, from the writers' ack files."""
    acked: dict[str, dict[int, str]] = {}
    for path in paths:
        name = path.name.removesuffix(".acks")
        raw = path.read_bytes()
        for line in raw.split(b"\n")[:-1]:  # a last line without \n was never fully written
            target, ident, seq = line.decode().split()
            header = f"{name}:{seq}"
            previous = acked.setdefault(target, {}).setdefault(int(ident), header)
            assert previous == header, f"two acks for id {ident} of {target}: {previous} and {header}"
    return acked


def check_channel_file(path: Path, target: str, acked: dict[int, str]) -> ChannelCheck:
    """Every line valid, ids exactly 1..N, no text twice, and every acknowledged post there exactly."""
    raw = path.read_bytes()
    assert raw.endswith(b"\n"), f"{path} ends in a torn line"
    seen: set[str] = set()
    headers: dict[int, str] = {}
    for number, line in enumerate(raw.split(b"\n")[:-1], start=1):
        record = jsonl.parse_record(line)
        assert record is not None, f"{path}:{number} is not a valid record: {line[:100]!r}"
        assert record["id"] == number, f"{path}:{number} has id {record['id']}"
        writer_name, seq = verify_record(record, target)
        header = f"{writer_name}:{seq}"
        assert header not in seen, f"{header} stored twice (second at id {number})"
        seen.add(header)
        headers[number] = header
    for ident, header in acked.items():
        assert headers.get(ident) == header, f"acknowledged {header} is not at id {ident} of {target}"
    return ChannelCheck(records=len(headers), acked=len(acked), unacked=len(headers) - len(acked))


def hold_lock(lock_path: str, ready_file: str) -> None:
    """Take a channel's lock the way the store does, announce it, then stop this process (SIGSTOP)."""
    import signal

    import filelock

    lock = filelock.FileLock(lock_path, preserve_lock_file=True)
    lock.acquire()
    Path(ready_file).write_text("locked", encoding="utf-8")
    os.kill(os.getpid(), signal.SIGSTOP)
    time.sleep(0.05)  # resumed: hold on a moment more, then let go
    lock.release()


def hold_channel(data_dir: str, target: str, ready_file: str) -> None:
    """Hold a channel the way the store does (inside ``FileStore.repair``, which keeps its locks while it
    inspects the file), announce it, then stop this process (SIGSTOP); after SIGCONT, let go."""
    import signal

    def stop_inside(lines: Any) -> list[tuple[int, int]]:
        Path(ready_file).write_text("locked", encoding="utf-8")
        os.kill(os.getpid(), signal.SIGSTOP)
        return []

    FileStore(Path(data_dir)).repair(target, stop_inside)


def busy_poster(data_dir: str, target: str, timeout_s: float, out: str) -> None:
    """Try one post with a short lock timeout; write what happened (ok/busy, seconds, message) to ``out``."""
    store = FileStore(Path(data_dir), lock_timeout_s=timeout_s)
    started = time.monotonic()
    try:
        record = store.append(target, "impatient", "posted while the lock was held?")
        result = {"ok": True, "id": record["id"]}
    except StoreBusy as exc:
        result = {"ok": False, "error": str(exc)}
    result["seconds"] = time.monotonic() - started
    Path(out).write_text(json.dumps(result), encoding="utf-8")


def post_then_die(data_dir: str, target: str, text: str, fsync: bool, through_relay: bool) -> None:
    """Post one message and SIGKILL this process the moment the post returns: a crash right after."""
    import signal

    config = resolve_config({"data_dir": data_dir, "fsync": fsync}, env={})
    relay = Relay(config)
    if through_relay:
        setup_logging(config, stderr_level=logging.CRITICAL)
        relay.post(target, text, "crasher", source="cli")
    else:
        relay.store.append(target, "crasher", text)
    os.kill(os.getpid(), signal.SIGKILL)


def serve_posts() -> None:
    """Post what each stdin line asks (JSON: data_dir, max, target, sender, text); answer one JSON line each.

    Lets property tests put some posts in another process without paying a start-up per post.
    """
    import sys

    from shared.errors import RelayError

    stores: dict[tuple[str, int], FileStore] = {}
    for line in sys.stdin:
        ask = json.loads(line)
        key = (ask["data_dir"], ask["max"])
        store = stores.setdefault(key, FileStore(Path(key[0]), max_message_bytes=key[1]))
        try:
            answer: dict[str, Any] = {"record": store.append(ask["target"], ask["sender"], ask["text"])}
        except RelayError as exc:
            answer = {"error": type(exc).__name__, "message": str(exc)}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    serve_posts()
