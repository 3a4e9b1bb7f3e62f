"""Claude Code channels, end to end: a real relay-stdio pushes ``notifications/claude/channel`` to the
official TypeScript SDK client (``tests/e2e/node/channel_client.mjs``, which records every notification)
when another process posts.

What is checked: the capability and the notification's shape, every one of 50 posts pushed in order
within the contract's second (the latencies are printed, not asserted any tighter), own posts and
channels the session never used are not pushed, the read position moves past what was pushed, and a
client that is not Claude Code gets nothing unless the server runs with ``--push``.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.config import resolve_config
from shared.relay import Relay
from shared.trust import untrusted_framing
from tests.e2e.channel_client import CHANNEL_METHOD, ChannelClient

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CONTRACT_LATENCY_S = 1.0  # "within a second of the post"


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def outside(store_dir: Path) -> Relay:
    """The test's own relay on the same store: posts from another process than the server."""
    return Relay(resolve_config({"data_dir": str(store_dir)}, env={}))


@pytest.fixture
def clients(tmp_path: Path, store_dir: Path) -> Iterator[list[ChannelClient]]:
    started: list[ChannelClient] = []
    yield started
    for client in started:
        client.close()


def start(
    clients: list[ChannelClient], tmp_path: Path, store_dir: Path, name: str, *args: str, **env: str
) -> ChannelClient:
    client = ChannelClient(store_dir, tmp_path / f"home-{len(clients)}", name, args, env)
    clients.append(client)
    return client


def test_claude_code_gets_every_post_of_a_subscribed_channel_as_a_channel_notification(
    tmp_path: Path, store_dir: Path, outside: Relay, clients: list[ChannelClient]
) -> None:
    # 50 posts from one agent in a row would pause the channel at 12 (the loop guard): turned off here.
    claude = start(
        clients, tmp_path, store_dir, "claude-code", "--channel", "proj-x", CLAUDE_CODEX_LOOP_GUARD="0"
    )
    assert claude.ready["capabilities"]["experimental"] == {"claude/channel": {}}
    assert '<channel source="relay"' in claude.ready["instructions"]
    assert "reply_to" in claude.ready["instructions"]

    latencies = []
    for n in range(1, 51):
        posted_at = time.time()
        record = outside.post("proj-x", f"packet {n}\n```diff\n+line {n}\n```", "codex", source="api")
        event = claude.next_push()
        latencies.append(event["received_ms"] / 1000 - posted_at)
        assert event["method"] == CHANNEL_METHOD
        params = event["params"]
        assert params["meta"] == {"target": "proj-x", "id": str(record["id"]), "sender": "codex"}
        assert record["id"] == n
        assert params["content"].endswith(record["text"])
        assert untrusted_framing("proj-x", ["codex via api"]) in params["content"]
        assert f'post_message(target="proj-x", reply_to={n})' in params["content"]

    latencies.sort()
    print(
        f"\npush latency over 50 posts: median {statistics.median(latencies) * 1000:.1f} ms, "
        f"max {latencies[-1] * 1000:.1f} ms"
    )
    assert latencies[-1] < CONTRACT_LATENCY_S, latencies
    # Pushed means read: the saved position is past all 50, so an unread fetch returns nothing.
    assert outside.store.get_position("claude", "proj-x") == 50
    fetched = claude.call("fetch_messages", target="proj-x")
    assert fetched["structuredContent"]["messages"] == []
    assert [e["params"]["meta"]["id"] for e in claude.notifications] == [str(n) for n in range(1, 51)]


def test_own_posts_and_unused_channels_are_never_pushed_and_used_channels_are(
    tmp_path: Path, store_dir: Path, outside: Relay, clients: list[ChannelClient]
) -> None:
    claude = start(clients, tmp_path, store_dir, "claude-code")
    assert claude.call("post_message", target="proj-x", text="my packet")["isError"] is False
    relayed = claude.call("post_message", target="proj-x", text="relayed for dana", sender="dana")
    assert relayed["isError"] is False  # this session wrote it, whatever the sender label says
    outside.post("proj-x", "also me, from another of my processes", "Claude", source="api")
    outside.post("elsewhere", "a channel this session never used", "codex", source="api")
    assert claude.call("fetch_messages", target="review", since_id=0)["isError"] is False
    verdict = outside.post("proj-x", "verdict: approve", "codex", source="api", reply_to=1)
    assert verdict["id"] == 4
    note = outside.post("review", "a note on the review channel", "dana", source="web-ui")

    first, second = claude.next_push(), claude.next_push()
    pushed = sorted((e["params"]["meta"]["target"], e["params"]["meta"]["id"]) for e in (first, second))
    assert pushed == [("proj-x", str(verdict["id"])), ("review", str(note["id"]))]
    assert first["params"]["meta"].get("reply_to", "1") == "1"
    assert claude.pushes_within(CONTRACT_LATENCY_S) == []  # own posts and "elsewhere" never come


def test_a_message_returned_by_a_wait_in_progress_is_not_pushed_as_well(
    tmp_path: Path, store_dir: Path, outside: Relay, clients: list[ChannelClient]
) -> None:
    claude = start(clients, tmp_path, store_dir, "claude-code", "--channel", "proj-x")
    seq = claude.send("wait_for_messages", target="proj-x", since_id=0, timeout_s=60)
    assert claude.next_event("progress")["seq"] == seq  # the wait is running in the server
    first = outside.post("proj-x", "answer to the waiting call", "codex", source="api")
    got = claude.next_event("result")
    assert got["seq"] == seq
    assert [m["id"] for m in got["structuredContent"]["messages"]] == [first["id"]]
    second = outside.post("proj-x", "posted while nobody waits", "codex", source="api")
    assert claude.next_push()["params"]["meta"]["id"] == str(second["id"])
    assert [e["params"]["meta"]["id"] for e in claude.notifications if e["method"] == CHANNEL_METHOD] == [
        str(second["id"])
    ]


@pytest.mark.parametrize("name", ["codex-mcp-client", "ts-sdk-client"])
def test_a_client_that_is_not_claude_code_gets_no_pushes_unless_the_server_runs_with_push(
    tmp_path: Path, store_dir: Path, outside: Relay, clients: list[ChannelClient], name: str
) -> None:
    plain = start(clients, tmp_path, store_dir, name, "--channel", "proj-x", "--sender", "codex")
    pushed = start(clients, tmp_path, store_dir, name, "--channel", "proj-x", "--sender", "gemini", "--push")
    assert "experimental" not in plain.ready["capabilities"]
    assert "<channel" not in plain.ready["instructions"]
    assert pushed.ready["capabilities"]["experimental"] == {"claude/channel": {}}

    record = outside.post("proj-x", "packet for codex", "claude", source="api")
    assert pushed.next_push()["params"]["meta"]["id"] == str(record["id"])
    assert plain.pushes_within(CONTRACT_LATENCY_S) == []
    # The plain client still reads it: it was never marked read for it by a push.
    got = plain.call("fetch_messages", target="proj-x")
    assert [m["id"] for m in got["structuredContent"]["messages"]] == [record["id"]]
