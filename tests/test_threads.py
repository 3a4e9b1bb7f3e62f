"""Threads: reply chains found from any of their messages, and the pages that show them."""

from __future__ import annotations

import json
import re

import pytest
from flask.testing import FlaskClient

from shared.errors import InvalidInput, MessageNotFound
from shared.relay import Relay
from shared.storage.files.store import FileStore
from shared.threads import thread_of


def review_thread(store: FileStore) -> None:
    store.append("proj-x", "claude", "packet v1")  # 1: root
    store.append("proj-x", "alice", "unrelated")  # 2
    store.append("proj-x", "codex", "verdict: changes", reply_to=1)  # 3
    store.append("proj-x", "claude", "packet v2", reply_to=3)  # 4
    store.append("proj-x", "bob", "another topic", reply_to=2)  # 5: another thread
    store.append("proj-x", "codex", "a side note on v1", reply_to=1)  # 6
    store.append("proj-x", "codex", "verdict: approve", reply_to=4)  # 7


@pytest.mark.parametrize("start", [1, 3, 4, 6, 7])
def test_a_thread_is_the_same_from_any_of_its_messages(store: FileStore, start: int) -> None:
    review_thread(store)
    found = thread_of(store, "proj-x", start)
    assert found["root_id"] == 1
    assert [(m["id"], m["text"]) for m in found["messages"]] == [
        (1, "packet v1"),
        (3, "verdict: changes"),
        (4, "packet v2"),
        (6, "a side note on v1"),
        (7, "verdict: approve"),
    ]


def test_a_message_without_replies_is_a_thread_of_one(store: FileStore) -> None:
    review_thread(store)
    assert [m["id"] for m in thread_of(store, "proj-x", 2)["messages"]] == [2, 5]
    store.append("proj-x", "x", "alone")
    assert [m["id"] for m in thread_of(store, "proj-x", 8)["messages"]] == [8]


def test_a_reply_to_a_missing_or_newer_message_starts_its_own_thread(store: FileStore) -> None:
    store.append("proj-x", "a", "first")
    path = store.channel_path("proj-x")
    with path.open("a", encoding="utf-8") as handle:  # hand-written: a reply to the future, and to #99
        for number, answers in ((2, 5), (3, 99)):
            record = {"id": number, "ts": 2.0, "target": "proj-x", "sender": "b", "text": "odd"}
            handle.write(json.dumps({**record, "reply_to": answers}) + "\n")
    assert [m["id"] for m in thread_of(store, "proj-x", 2)["messages"]] == [2]
    assert [m["id"] for m in thread_of(store, "proj-x", 3)["messages"]] == [3]


def test_the_forward_scan_is_bounded(store: FileStore) -> None:
    store.append("proj-x", "a", "root")
    for i in range(30):
        store.append("proj-x", "b", f"filler {i}")
    store.append("proj-x", "c", "late answer", reply_to=1)
    assert [m["id"] for m in thread_of(store, "proj-x", 1, scan=10)["messages"]] == [1]
    assert [m["id"] for m in thread_of(store, "proj-x", 1)["messages"]] == [1, 32]


def test_unknown_messages_and_bad_ids_are_clear_errors(relay: Relay) -> None:
    relay.post("proj-x", "one", "a", source="api")
    with pytest.raises(MessageNotFound, match="channel 'proj-x' has no message #7"):
        relay.thread("proj-x", 7)
    with pytest.raises(InvalidInput, match="message id must be"):
        relay.thread("proj-x", 0)


def test_the_thread_page_shows_the_thread_and_a_composer_that_replies_in_it(
    client: FlaskClient, relay: Relay
) -> None:
    review_thread(FileStore(relay.config.data_dir))
    page = client.get("/channels/proj-x/threads/4")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert [int(i) for i in re.findall(r'<article [^>]*data-id="(\d+)"', html)] == [1, 3, 4, 6, 7]
    assert 'data-thread="1"' in html and 'id="c-reply-to" name="reply_to" value="7"' in html
    assert client.get("/channels/proj-x/threads/99").status_code == 404
    assert client.get("/channels/PROJ-X/threads/4").status_code == 308
