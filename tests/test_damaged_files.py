"""Channel files damaged by hand: readers keep serving every good record, through every reader."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from mcp import Client

from relay_stdio.cli import main
from relay_stdio.server import build_server
from shared.errors import StoreError
from shared.relay import Relay
from shared.storage.files import jsonl
from shared.storage.files.check import check_store
from shared.storage.files.store import FileStore
from tests.reliability import count


def good(i: int, target: str = "t") -> bytes:
    body = {"id": i, "ts": 1000.0 + i, "target": target, "sender": f"s{i % 3}", "text": f"message {i} ✓"}
    return (json.dumps(body, ensure_ascii=False) + "\n").encode()


def write(store: FileStore, target: str, chunks: list[bytes]) -> Path:
    path = store.channel_path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(chunks))
    return path


def assert_store_serves(store: FileStore, target: str, ids: list[int]) -> None:
    """Every read of the store API returns exactly the good records ``ids``, whatever the damage."""
    assert [m["id"] for m in store.read_last(target, 10_000)] == ids
    assert [m["id"] for m in store.read_last(target, 3)] == ids[-3:]
    for since in sorted({0, 1, len(ids) // 2, *ids[-3:]}):
        page, more = store.read_since(target, since, 5)
        expected = [i for i in ids if i > since]
        assert [m["id"] for m in page] == expected[:5], since
        assert more == (len(expected) > 5)
    stats = store.stats(target)
    assert (stats.latest_id, stats.count) == ((ids[-1], ids[-1]) if ids else (0, 0))
    for message in store.read_last(target, 10_000):
        assert message == json.loads(good(message["id"], target))
    count("damage.store_reads_checked", 4 + len({0, 1, len(ids) // 2, *ids[-3:]}))


async def assert_front_ends_serve(relay: Relay, target: str, ids: list[int]) -> None:
    async with Client(build_server(relay, identity="reader"), raise_exceptions=True) as client:
        fetched = await client.call_tool("fetch_messages", {"target": target, "since_id": 0, "limit": 200})
        assert not fetched.is_error, fetched.content
        assert fetched.structured_content is not None
        assert [m["id"] for m in fetched.structured_content["messages"]] == ids
        listing = await client.call_tool("list_channels", {})
        assert not listing.is_error and listing.structured_content is not None
        assert target in listing.structured_content["channels"]


MIDDLE_DAMAGE = {
    "malformed": b"this is a hand edit, not JSON\n",
    "invalid-utf8": b'{"id": 3, "text": "\xff\xfe"}\n',
    "lone-continuation-bytes": b"\x80\x80\x80\n",
    "nul-bytes": b"\x00" * 100 + b"\n",
    "json-array": b"[1, 2, 3]\n",
    "record-missing-fields": b'{"id": 3}\n',
    "id-zero": b'{"id": 0, "ts": 1, "target": "t", "sender": "s", "text": "x"}\n',
    "id-as-string": b'{"id": "3", "ts": 1, "target": "t", "sender": "s", "text": "x"}\n',
    "id-as-bool": b'{"id": true, "ts": 1, "target": "t", "sender": "s", "text": "x"}\n',
    "ts-nan": b'{"id": 3, "ts": NaN, "target": "t", "sender": "s", "text": "x"}\n',
    "ts-infinity": b'{"id": 3, "ts": Infinity, "target": "t", "sender": "s", "text": "x"}\n',
    "text-not-string": b'{"id": 3, "ts": 1, "target": "t", "sender": "s", "text": {"a": 1}}\n',
    "deeply-nested": b"[" * 200_000 + b"\n",
    "huge-integer": b'{"id": ' + b"9" * 5000 + b"}\n",
    "empty-line": b"\n",
    "crlf-garbage": b"\r\r\r\n",
}


@pytest.mark.anyio
@pytest.mark.parametrize("damage", sorted(MIDDLE_DAMAGE))
async def test_a_bad_line_in_the_middle_hides_nothing_else(relay: Relay, damage: str) -> None:
    store = relay.store
    assert isinstance(store, FileStore)
    lines = [good(i) for i in range(1, 7)]
    lines.insert(3, MIDDLE_DAMAGE[damage])
    write(store, "t", lines)
    assert_store_serves(store, "t", [1, 2, 3, 4, 5, 6])
    await assert_front_ends_serve(relay, "t", [1, 2, 3, 4, 5, 6])
    assert store.append("t", "a", "after the damage")["id"] == 7
    report = check_store(store)
    assert [(p.line, p.error) for p in report.problems] == [(4, True)]
    count("damage.middle_kinds")


def test_a_truncated_file_serves_its_complete_lines_and_the_next_post_repairs_it(data_dir: Path) -> None:
    full = b"".join(good(i) for i in range(1, 31))
    ends = [i + 1 for i, byte in enumerate(full) if byte == ord("\n")]
    rng = random.Random(6)
    cuts = sorted({0, 1, len(full) - 1, *ends, *(e - 1 for e in ends), *rng.sample(range(len(full)), 60)})
    for cut in cuts:
        store = FileStore(data_dir / f"cut-{cut}")
        path = write(store, "t", [full[:cut]])
        complete = sum(1 for e in ends if e <= cut)
        assert_store_serves(store, "t", list(range(1, complete + 1)))
        assert store.append("t", "a", "next")["id"] == complete + 1
        lines = path.read_bytes().splitlines()
        assert [json.loads(line)["id"] for line in lines] == list(range(1, complete + 2))
    count("damage.truncations", len(cuts))


@pytest.mark.anyio
async def test_channel_file_replaced_by_a_symlink_is_never_followed_or_written(
    relay: Relay, tmp_path: Path
) -> None:
    store = relay.store
    assert isinstance(store, FileStore)
    outside = tmp_path / "outside.jsonl"
    outside.write_bytes(good(1, "evil"))
    before = (outside.read_bytes(), outside.stat().st_mtime_ns, outside.stat().st_size)
    write(store, "t", [good(i) for i in range(1, 4)])
    os.symlink(outside, store.channel_path("evil"))

    assert_store_serves(store, "t", [1, 2, 3])  # other channels unaffected
    assert [s.target for s in store.list_channels()] == ["t"]
    for read in (lambda: store.read_last("evil", 5), lambda: store.read_since("evil", 0, 5)):
        with pytest.raises(StoreError, match=r"symbolic link.*relay check"):
            read()
    with pytest.raises(StoreError, match="symbolic link"):
        store.append("evil", "a", "through the link?")
    async with Client(build_server(relay, identity="x"), raise_exceptions=True) as client:
        for tool, args in [
            ("post_message", {"target": "evil", "text": "x"}),
            ("fetch_messages", {"target": "evil", "since_id": 0}),
            ("fetch_messages", {"target": "EVIL"}),
        ]:
            result = await client.call_tool(tool, args)
            assert result.is_error and "symbolic link" in result.content[0].text  # type: ignore[union-attr]
        listing = await client.call_tool("list_channels", {})
        assert not listing.is_error
    assert (outside.read_bytes(), outside.stat().st_mtime_ns, outside.stat().st_size) == before


def _fill_with_a_huge_line(store: FileStore, size: int) -> tuple[Path, list[int]]:
    """Records 1-1000, a ``size``-byte line with id 1001 (a hole in a sparse file), records 1001-2000."""
    path = store.channel_path("big")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        for i in range(1, 1001):
            out.write(good(i, "big"))
        head = b'{"id": 1001, "ts": 1, "target": "big", "sender": "s", "text": "'
        out.write(head)
        out.seek(size - len(head) - 2, os.SEEK_CUR)
        out.write(b'"}\n')
        for i in range(1001, 2001):
            out.write(good(i, "big"))
    return path, list(range(1, 2001))


@pytest.mark.slow
@pytest.mark.anyio
async def test_a_line_longer_than_any_relay_writes_is_skipped_by_readers_and_quarantined_by_repair(
    relay: Relay,
) -> None:
    store = relay.store
    assert isinstance(store, FileStore)
    path, ids = _fill_with_a_huge_line(store, jsonl.MAX_LINE + 1024 * 1024)
    assert path.stat().st_size > jsonl.MAX_LINE
    assert_store_serves(store, "big", ids)
    for since in (995, 999, 1000, 1001, 1002):
        assert [m["id"] for m in store.read_since("big", since, 3)[0]] == [since + 1, since + 2, since + 3]
    await assert_front_ends_serve(relay, "big", ids[:200])
    assert store.append("big", "a", "after")["id"] == 2001

    report = check_store(store, ["big"])
    [problem] = report.problems
    assert (problem.line, problem.kind) == (1001, "oversize line")
    repaired = check_store(store, ["big"], repair=True)
    assert repaired.repaired == 1
    [quarantine] = store.channels_dir.glob("big.jsonl.quarantine-*")
    assert quarantine.stat().st_size == problem.length + 1
    assert path.stat().st_size < 1024 * 1024
    assert [m["id"] for m in store.read_since("big", 0, 10_000)[0]] == [*ids, 2001]
    count("damage.huge_line_bytes", problem.length)


def test_hand_edits_never_make_ids_reused(store: FileStore) -> None:
    write(store, "t", [good(1), good(2), b'{"id": 3, "broken": \n'])
    assert store.append("t", "a", "x")["id"] == 3
    lines = store.channel_path("t").read_bytes().splitlines()
    valid = [json.loads(line)["id"] for line in lines if not line.startswith(b'{"id": 3, "broken"')]
    assert valid == [1, 2, 3]


def test_cli_tail_serves_around_damage(store: FileStore, data_dir: Path) -> None:
    write(store, "t", [good(1), b"\xff junk\n", good(2), b"[" * 10_000 + b"\n", good(3)])
    runner = CliRunner()
    result = runner.invoke(main, ["--data-dir", str(data_dir), "tail", "t", "--json", "--since", "0"])
    assert result.exit_code == 0, result.output
    got: list[dict[str, Any]] = [json.loads(line) for line in result.stdout.splitlines() if line]
    assert [m["id"] for m in got] == [1, 2, 3]
