"""The store contract, held by every backend: the same tests run on the JSONL files and on PostgreSQL.

Backend-specific behaviour sits beside this file (torn lines and ``relay check`` for the files in
test_store.py, test_check.py, test_faults_*.py; connection loss in test_postgres_faults.py).
"""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from shared.errors import InvalidInput, InvalidTarget, MessageTooLarge
from shared.storage import MessageStore, open_store

BACKENDS = ["files", "postgres"]


@pytest.fixture(params=BACKENDS)
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a store lives: a data folder, or the URL of a fresh PostgreSQL database."""
    if request.param == "files":
        return str(tmp_path / "data")
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def make_store(location: str) -> Any:
    opened: list[MessageStore] = []

    def make(**options: Any) -> MessageStore:
        store = open_store(location, lock_timeout_s=options.pop("lock_timeout_s", 10.0), **options)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def cstore(make_store: Callable[..., MessageStore]) -> MessageStore:
    return make_store()


# --- ids -----------------------------------------------------------------------------------------


def test_ids_start_at_one_and_grow_by_one_per_channel(cstore: MessageStore) -> None:
    ids = [cstore.append("alpha", "claude", f"a{i}")["id"] for i in range(5)]
    other = [cstore.append("beta", "codex", f"b{i}")["id"] for i in range(3)]
    assert ids == [1, 2, 3, 4, 5]
    assert other == [1, 2, 3]


def test_a_record_holds_every_field_it_was_given(cstore: MessageStore) -> None:
    before = time.time()
    record = cstore.append("Proj-X", " claude ", "hello **world**", source="mcp", reply_to=7)
    assert (
        record["target"] == "proj-x" and record["sender"] == "claude" and record["text"] == "hello **world**"
    )
    assert record["source"] == "mcp" and record["reply_to"] == 7
    assert before - 5 <= record["ts"] <= time.time() + 5
    assert cstore.read_last("proj-x", 1) == [record]


def test_a_second_store_object_continues_the_same_ids(make_store: Callable[..., MessageStore]) -> None:
    first, second = make_store(), make_store()
    assert first.append("t", "a", "one")["id"] == 1
    assert second.append("t", "b", "two")["id"] == 2
    assert first.append("t", "a", "three")["id"] == 3
    assert [m["text"] for m in second.read_since("t", 0, 10)[0]] == ["one", "two", "three"]


# --- names and sizes -----------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["", "../x", "a/b", "x\x00y", "-lead", "a" * 65, "tab\tname", "é"])
def test_hostile_channel_names_are_refused_and_nothing_is_stored(cstore: MessageStore, bad: str) -> None:
    with pytest.raises(InvalidTarget, match="letters, digits"):
        cstore.append(bad, "claude", "x")
    assert cstore.list_channels() == []


def test_channel_names_match_case_insensitively(cstore: MessageStore) -> None:
    cstore.append("MiXeD", "a", "one")
    cstore.append("mixed", "a", "two")
    assert [m["id"] for m in cstore.read_last("MIXED", 10)] == [1, 2]


def test_a_text_over_the_limit_names_both_sizes_and_stores_nothing(
    make_store: Callable[..., MessageStore],
) -> None:
    store = make_store(max_message_bytes=100)
    with pytest.raises(MessageTooLarge, match=r"101 bytes.*limit is 100 bytes"):
        store.append("t", "a", "x" * 101)
    assert store.append("t", "a", "x" * 100)["id"] == 1


@pytest.mark.parametrize(("sender", "text"), [("", "x"), ("a\x01", "x"), ("a", " "), ("a", "bin\x00ary")])
def test_bad_senders_and_texts_are_refused(cstore: MessageStore, sender: str, text: str) -> None:
    with pytest.raises(InvalidInput):
        cstore.append("t", sender, text)
    assert cstore.stats("t").latest_id == 0


def test_a_large_unicode_text_comes_back_unchanged(cstore: MessageStore) -> None:
    text = "😀 naïve ```diff\n-a\n+b\n```\n" * 5000
    cstore.append("big", "a", text)
    assert cstore.read_since("big", 0, 1)[0][0]["text"] == text


# --- reads ---------------------------------------------------------------------------------------


def test_reads_since_last_and_before_page_through_a_channel(cstore: MessageStore) -> None:
    for i in range(1, 21):
        cstore.append("t", "a", f"m{i}")
    page, more = cstore.read_since("t", 5, 4)
    assert [m["id"] for m in page] == [6, 7, 8, 9] and more
    page, more = cstore.read_since("t", 18, 4)
    assert [m["id"] for m in page] == [19, 20] and not more
    assert [m["id"] for m in cstore.read_last("t", 3)] == [18, 19, 20]
    page, more = cstore.read_before("t", 4, 2)
    assert [m["id"] for m in page] == [2, 3] and more
    page, more = cstore.read_before("t", 3, 5)
    assert [m["id"] for m in page] == [1, 2] and not more
    assert cstore.read_since("empty", 0, 5) == ([], False)
    assert cstore.read_last("empty", 5) == []


def test_stats_and_the_channel_list_describe_every_channel(cstore: MessageStore) -> None:
    cstore.append("b", "claude", "1")
    cstore.append("a", "codex", "2")
    cstore.append("a", "person", "3")
    stats = {s.target: s for s in cstore.list_channels()}
    assert sorted(stats) == ["a", "b"]
    assert (stats["a"].count, stats["a"].latest_id, stats["a"].last_sender) == (2, 2, "person")
    assert cstore.stats("none").latest_id == 0
    assert cstore.stats("A").last_ts == stats["a"].last_ts


def test_a_negative_since_id_is_an_input_error(cstore: MessageStore) -> None:
    with pytest.raises(InvalidInput, match="since_id"):
        cstore.read_since("t", -1, 5)


# --- read positions ------------------------------------------------------------------------------


def test_read_positions_move_forward_only_per_identity_and_channel(cstore: MessageStore) -> None:
    assert cstore.get_position("claude", "t") == 0
    assert cstore.advance_position("claude", "t", 5) == 5
    assert cstore.advance_position("Claude", "t", 3) == 5  # identities match case-insensitively
    assert cstore.get_position("codex", "t") == 0
    assert cstore.get_position("claude", "other") == 0
    assert cstore.reset_position("claude", "t", 1) == 1
    assert cstore.positions() == {"claude": {"t": 1}}


# --- waiting -------------------------------------------------------------------------------------


def _post_later(location: str, target: str, text: str, delay: float) -> None:
    time.sleep(delay)
    store = open_store(location)
    store.append(target, "other-process", text)
    store.close()


def test_a_post_from_another_process_wakes_a_subscriber(cstore: MessageStore, location: str) -> None:
    version = cstore.version("t")
    sub = cstore.subscribe(["t"])
    assert sub is not None
    try:
        proc = multiprocessing.get_context("spawn").Process(
            target=_post_later, args=(location, "t", "hi", 0.3)
        )
        proc.start()
        deadline = time.monotonic() + 20
        while cstore.version("t") == version and time.monotonic() < deadline:
            sub.wait(1.0)
        proc.join(20)
        assert proc.exitcode == 0
        assert cstore.version("t") != version
        assert cstore.read_last("t", 1)[0]["text"] == "hi"
    finally:
        sub.close()


def test_version_changes_on_every_append(cstore: MessageStore) -> None:
    seen = {cstore.version("t")}
    for i in range(5):
        cstore.append("t", "a", f"m{i}")
        seen.add(cstore.version("t"))
    assert len(seen) == 6


# --- many writers --------------------------------------------------------------------------------

WRITERS, POSTS = 8, 500


def _writer(location: str, writer: int, posts: int, start: Any) -> None:
    store = open_store(location, lock_timeout_s=60)
    start.wait()
    for seq in range(posts):
        store.append("shared", f"writer-{writer}", f"w{writer}-s{seq}")
    store.close()


def all_records(store: MessageStore, target: str) -> list[dict[str, Any]]:
    """Every message of a channel, oldest first, read a page at a time."""
    records: list[dict[str, Any]] = []
    since = 0
    while True:
        page, more = store.read_since(target, since, 200)
        records += page
        if not more:
            return records
        since = page[-1]["id"]


def check_every_message(store: MessageStore, writers: int, posts: int) -> None:
    records = all_records(store, "shared")
    assert [r["id"] for r in records] == list(range(1, writers * posts + 1))
    by_text = {r["text"]: r for r in records}
    assert len(by_text) == writers * posts
    for writer in range(writers):
        mine = [r["text"] for r in records if r["sender"] == f"writer-{writer}"]
        assert mine == [f"w{writer}-s{seq}" for seq in range(posts)]


@pytest.mark.slow
def test_eight_processes_posting_at_once_get_ids_1_to_n_with_every_text_once(
    cstore: MessageStore, location: str
) -> None:
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    procs = [ctx.Process(target=_writer, args=(location, w, POSTS, start)) for w in range(WRITERS)]
    for proc in procs:
        proc.start()
    start.set()
    for proc in procs:
        proc.join(300)
        assert proc.exitcode == 0
    check_every_message(cstore, WRITERS, POSTS)


def test_threads_of_one_process_share_a_store_safely(cstore: MessageStore) -> None:
    errors: list[BaseException] = []

    def post(writer: int) -> None:
        try:
            for seq in range(50):
                cstore.append("shared", f"writer-{writer}", f"w{writer}-s{seq}")
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=post, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    check_every_message(cstore, 8, 50)


# --- the relay's operations on every backend -----------------------------------------------------


@pytest.fixture
def crelay(cstore: MessageStore, tmp_path: Path) -> Any:
    from shared.config import resolve_config
    from shared.relay import Relay

    return Relay(resolve_config({"data_dir": str(tmp_path / "local")}, env={}), cstore)


def test_fetch_without_since_id_reads_from_the_saved_position(crelay: Any) -> None:
    for i in range(3):
        crelay.post("t", f"m{i}", "codex", source="cli")
    first = crelay.fetch("t", identity="claude", limit=2)
    assert [m["text"] for m in first["messages"]] == ["m0", "m1"]
    second = crelay.fetch("t", identity="Claude")
    assert [m["text"] for m in second["messages"]] == ["m2"]
    assert crelay.fetch("t", identity="claude")["messages"] == []
    assert crelay.store.get_position("claude", "t") == 3


def test_a_wait_wakes_on_a_post_from_another_process_and_skips_own_posts(crelay: Any, location: str) -> None:
    from shared.waiting import wait_for_messages_sync

    crelay.post("t", "mine", "claude", source="mcp")
    ctx = multiprocessing.get_context("spawn")
    proc = ctx.Process(target=_post_later, args=(location, "t", "yours", 0.5))
    proc.start()
    try:
        result = wait_for_messages_sync(crelay, "t", identity="claude", timeout_s=30)
    finally:
        proc.join(30)
    assert [m["text"] for m in result["messages"]] == ["yours"]
    assert result["latest_id"] == 2 and crelay.store.get_position("claude", "t") == 2
    quiet = wait_for_messages_sync(crelay, "t", identity="claude", timeout_s=0.3)
    assert quiet["messages"] == [] and crelay.store.get_position("claude", "t") == 2


def test_imported_records_keep_their_fields_and_later_posts_continue(cstore: MessageStore) -> None:
    records = [
        {"id": 1, "ts": 1700000000.5, "target": "old", "sender": "claude", "text": "one", "source": "mcp"},
        {"id": 2, "ts": 1700000001.25, "target": "old", "sender": "ada", "text": "two", "reply_to": 1,
         "tool": {"kept": True}},
    ]  # fmt: skip
    assert cstore.import_records("old", records) == 2
    assert cstore.import_records("old", records) == 0  # idempotent
    assert cstore.read_since("old", 0, 10)[0] == records
    assert cstore.append("old", "codex", "three")["id"] == 3
