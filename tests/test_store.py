import json
import logging
import os
import threading
from pathlib import Path

import filelock
import pytest

from shared.errors import InvalidTarget, MessageTooLarge, StoreBusy, StoreError
from shared.storage.files.store import FileStore


def lines_of(store: FileStore, target: str) -> list[dict]:
    raw = store.channel_path(target).read_bytes()
    assert raw.endswith(b"\n")
    return [json.loads(line) for line in raw.splitlines()]


def fill(store: FileStore, target: str, count: int) -> None:
    """Write ``count`` records straight into the file, as the store would (fast set-up for big channels)."""
    path = store.channel_path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        for i in range(1, count + 1):
            record = {"id": i, "ts": 1.0 + i, "target": target, "sender": f"s{i % 3}", "text": f"message {i}"}
            handle.write(json.dumps(record) + "\n")


def test_post_to_unknown_target_creates_it_with_id_1(store: FileStore) -> None:
    record = store.append("Proj-X", "claude", "hello", source="mcp")
    assert record["id"] == 1 and record["target"] == "proj-x" and record["source"] == "mcp"
    assert lines_of(store, "proj-x") == [record]
    assert store.channel_path("proj-x") == store.data_dir / "channels" / "proj-x.jsonl"


def test_each_line_is_the_records_json_as_documented_key_order_and_all(store: FileStore) -> None:
    texts = ["plain", 'quote " backslash \\ tab\t', "日本語 🎉 \u2028 ‏", "x" * 5000]
    records = [store.append("t", "claude", text, source="cli", reply_to=1 if i else None)
               for i, text in enumerate(texts)]  # fmt: skip
    lines = store.channel_path("t").read_bytes().splitlines()
    assert lines == [json.dumps(r, ensure_ascii=False).encode("utf-8") for r in records]
    assert [list(r) for r in records[:2]] == [
        ["id", "ts", "target", "sender", "text", "source"],
        ["id", "ts", "target", "sender", "text", "source", "reply_to"],
    ]


def test_records_round_trip_with_unicode_and_reply_to(store: FileStore) -> None:
    text = '```diff\n-a\n+b\n```\nquote " backslash \\ emoji 🎉 RTL ‏'
    first = store.append("t", "claude", text)
    second = store.append("t", "codex", "ok", reply_to=first["id"])
    assert store.read_since("t", 0, 10) == ([first, second], False)
    assert second["reply_to"] == 1 and "source" not in second
    assert isinstance(first["ts"], float)


def test_ids_are_per_channel(store: FileStore) -> None:
    assert store.append("a", "x", "1")["id"] == 1
    assert store.append("b", "x", "1")["id"] == 1
    assert store.append("a", "x", "2")["id"] == 2


def test_invalid_input_touches_no_file(store: FileStore) -> None:
    for target in ("../escape", "a/b", "", "x" * 65):
        with pytest.raises(InvalidTarget):
            store.append(target, "x", "hi")
    with pytest.raises(MessageTooLarge):
        FileStore(store.data_dir, max_message_bytes=4).append("t", "x", "hello")
    assert not store.data_dir.exists() or not any(store.channels_dir.glob("*.jsonl"))
    assert not (store.data_dir.parent / "escape.jsonl").exists()


def test_read_last_and_since_return_oldest_first(store: FileStore) -> None:
    for i in range(1, 11):
        store.append("t", "x", f"m{i}")
    assert [m["id"] for m in store.read_last("t", 3)] == [8, 9, 10]
    assert [m["id"] for m in store.read_last("t", 50)] == list(range(1, 11))
    page, more = store.read_since("t", 4, 3)
    assert [m["id"] for m in page] == [5, 6, 7] and more is True
    page, more = store.read_since("t", 7, 3)
    assert [m["id"] for m in page] == [8, 9, 10] and more is False
    assert store.read_since("t", 10, 3) == ([], False)
    assert store.read_since("t", 99, 3) == ([], False)
    assert store.read_since("missing", 0, 3) == ([], False)
    assert store.read_last("missing", 3) == []


@pytest.mark.parametrize("count", [1, 2, 100, 3000])
def test_since_id_finds_every_position_in_large_files(store: FileStore, count: int) -> None:
    fill(store, "big", count)
    for since in sorted({0, 1, count // 3, count // 2, count - 2, count - 1, count}):
        since = max(0, since)
        page, more = store.read_since("big", since, 5)
        expected = list(range(since + 1, min(count, since + 5) + 1))
        assert [m["id"] for m in page] == expected, since
        assert more == (since + 5 < count)


def test_stats_and_list_channels(store: FileStore) -> None:
    store.append("beta", "codex", "x")
    store.append("alpha", "claude", "y")
    store.append("alpha", "person", "z")
    (store.channels_dir / "not-a-channel.txt").write_text("ignored")
    (store.channels_dir / "..bad.jsonl").write_text("ignored")
    stats = store.list_channels()
    assert [s.target for s in stats] == ["alpha", "beta"]
    assert (stats[0].count, stats[0].latest_id, stats[0].last_sender) == (2, 2, "person")
    assert store.stats("empty").as_dict() == {
        "target": "empty",
        "count": 0,
        "latest_id": 0,
        "last_ts": None,
        "last_sender": None,
    }


def test_torn_last_line_is_never_served_and_is_cut_by_the_next_writer(
    store: FileStore, caplog: pytest.LogCaptureFixture
) -> None:
    store.append("t", "a", "one")
    store.append("t", "a", "two")
    path = store.channel_path("t")
    with path.open("ab") as handle:
        handle.write(b'{"id": 3, "ts": 1.0, "target": "t", "sender": "a", "te')
    assert [m["id"] for m in store.read_last("t", 10)] == [1, 2]
    assert [m["id"] for m in store.read_since("t", 0, 10)[0]] == [1, 2]
    assert store.stats("t").latest_id == 2
    with caplog.at_level(logging.WARNING, logger="relay.store"):
        record = store.append("t", "a", "three")
    assert record["id"] == 3
    assert [m["text"] for m in lines_of(store, "t")] == ["one", "two", "three"]
    assert "torn" in caplog.text


def test_torn_first_line_is_cut_too(store: FileStore) -> None:
    path = store.channel_path("t")
    path.parent.mkdir(parents=True)
    path.write_bytes(b'{"id": 1, "ts"')
    assert store.read_last("t", 5) == []
    assert store.append("t", "a", "first")["id"] == 1
    assert len(lines_of(store, "t")) == 1


def test_malformed_lines_are_skipped_with_a_warning_and_never_reuse_ids(
    store: FileStore, caplog: pytest.LogCaptureFixture
) -> None:
    store.append("t", "a", "one")
    store.append("t", "a", "two")
    path = store.channel_path("t")
    with path.open("ab") as handle:
        handle.write(b"this is a hand edit\n\xff\xfe not utf-8\n[1, 2]\n")
    with caplog.at_level(logging.WARNING, logger="relay.store"):
        assert [m["id"] for m in store.read_last("t", 10)] == [1, 2]
        assert store.append("t", "a", "three")["id"] == 3
    assert "skipping line" in caplog.text
    assert [m["id"] for m in store.read_since("t", 1, 10)[0]] == [2, 3]
    assert [m["id"] for m in store.read_since("t", 0, 10)[0]] == [1, 2, 3]


def test_malformed_line_in_the_middle_of_a_large_file_does_not_break_since_id(store: FileStore) -> None:
    fill(store, "big", 2000)
    path = store.channel_path("big")
    lines = path.read_bytes().splitlines(keepends=True)
    lines.insert(1000, b"garbage line\n")
    lines.insert(500, b"x" * 100_000 + b"\n")
    path.write_bytes(b"".join(lines))
    for since in (0, 499, 500, 999, 1000, 1500, 1999):
        assert [m["id"] for m in store.read_since("big", since, 3)[0]] == list(
            range(since + 1, min(2000, since + 3) + 1)
        )


def test_symlinked_channel_file_is_never_followed(store: FileStore, tmp_path: Path) -> None:
    outside = tmp_path / "outside.jsonl"
    outside.write_text('{"id": 1, "ts": 1, "target": "t", "sender": "evil", "text": "secret"}\n')
    store.channels_dir.mkdir(parents=True)
    os.symlink(outside, store.channel_path("t"))
    with pytest.raises(StoreError, match="symbolic link"):
        store.read_last("t", 5)
    with pytest.raises(StoreError, match="symbolic link"):
        store.append("t", "a", "write through the link?")
    assert outside.read_text().count("\n") == 1
    assert [s.target for s in store.list_channels()] == []


def test_lock_wait_is_bounded_and_ends_in_store_busy(data_dir: Path) -> None:
    store = FileStore(data_dir, lock_timeout_s=0.2)
    store.append("t", "a", "one")
    holder = filelock.FileLock(store.locks_dir / "t.lock", preserve_lock_file=True)
    holder.acquire()
    try:
        result: list[BaseException] = []

        def post() -> None:
            try:
                store.append("t", "a", "two")
            except StoreBusy as exc:
                result.append(exc)

        thread = threading.Thread(target=post)
        thread.start()
        thread.join(5)
        assert not thread.is_alive()
        assert result and "store busy" in str(result[0]) and "0.2 s" in str(result[0])
        assert [m["id"] for m in store.read_last("t", 5)] == [1]  # readers keep serving
    finally:
        holder.release()
    assert store.append("t", "a", "two")["id"] == 2


def test_unwritable_data_dir_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file-not-dir"
    blocker.write_text("")
    with pytest.raises(StoreError, match="not writable"):
        FileStore(blocker / "data").ensure_ready()


def test_another_process_append_is_seen_by_a_cached_store(data_dir: Path) -> None:
    one, two = FileStore(data_dir), FileStore(data_dir)
    assert one.append("t", "a", "x")["id"] == 1
    assert two.append("t", "b", "y")["id"] == 2
    assert one.append("t", "a", "z")["id"] == 3
    assert one.stats("t").last_sender == "a" and two.stats("t").latest_id == 3


@pytest.mark.parametrize("count", [1, 7, 300, 5000])
def test_read_before_pages_back_through_every_position(store: FileStore, count: int) -> None:
    fill(store, "big", count)
    for before in sorted({1, 2, 3, count // 2, count - 1, count, count + 1, count + 50}):
        for limit in (1, 3, 50):
            got, has_more = store.read_before("big", before, limit)
            expect = list(range(max(1, min(before, count + 1) - limit), min(before, count + 1)))
            assert [m["id"] for m in got] == expect, (before, limit)
            assert [m["text"] for m in got] == [f"message {i}" for i in expect]
            assert has_more == (bool(expect) and expect[0] > 1)


def test_read_before_skips_malformed_lines_and_unknown_channels(store: FileStore) -> None:
    fill(store, "t", 400)
    path = store.channel_path("t")
    lines = path.read_bytes().splitlines(keepends=True)
    lines.insert(200, b"not json\n")  # between ids 200 and 201
    path.write_bytes(b"".join(lines))
    got, has_more = store.read_before("t", 203, 4)
    assert [m["id"] for m in got] == [199, 200, 201, 202] and has_more
    assert store.read_before("nothing-here", 10, 5) == ([], False)
    assert store.read_before("t", 0, 5) == ([], False)
