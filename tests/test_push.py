"""automation/push.py on a real store: what a connection is pushed, in what order, and what counts as read.

The ``deliver`` callback here stands for the MCP transport (relay_stdio/channels.py sends it as a
notification); tests/e2e/test_channels.py covers the same rules through a real client.
"""

from __future__ import annotations

import threading
from typing import Any

import anyio
import pytest

from relay_stdio.automation.push import Pusher, channel_content, channel_meta
from shared.loopguard import LoopGuard
from shared.relay import Relay
from shared.trust import untrusted_framing

pytestmark = pytest.mark.anyio


class Recorder:
    """Collects pushes; ``until(n)`` waits for the n-th."""

    def __init__(self) -> None:
        self.pushed: list[tuple[str, dict[str, str]]] = []
        self._changed = anyio.Event()

    async def deliver(self, content: str, meta: dict[str, str]) -> None:
        self.pushed.append((content, meta))
        self._changed.set()
        self._changed = anyio.Event()

    async def until(self, count: int) -> None:
        with anyio.fail_after(30):
            while len(self.pushed) < count:
                await self._changed.wait()

    def ids(self) -> list[tuple[str, str]]:
        return [(meta["target"], meta["id"]) for _, meta in self.pushed]


async def running(pusher: Pusher, recorder: Recorder, body: Any) -> None:
    async with anyio.create_task_group() as tg:
        tg.start_soon(pusher.run, recorder.deliver)
        await anyio.sleep(0)
        await body()
        tg.cancel_scope.cancel()


def post_from_another_thread(relay: Relay, target: str, sender: str, source: str = "mcp") -> dict[str, Any]:
    out: dict[str, Any] = {}
    thread = threading.Thread(
        target=lambda: out.update(relay.post(target, "hi " + sender, sender, source=source))
    )
    thread.start()
    thread.join()
    return out


async def test_others_posts_on_subscribed_channels_are_pushed_in_order_and_count_as_read(
    relay: Relay,
) -> None:
    relay.post("proj-x", "backlog from before the session", "codex", source="mcp")
    pusher, recorder = Pusher(relay, "claude", LoopGuard(12), ["proj-x"]), Recorder()

    async def body() -> None:
        post_from_another_thread(relay, "proj-x", "codex")
        post_from_another_thread(relay, "proj-x", "claude")  # its own: never pushed
        post_from_another_thread(relay, "other", "codex")  # not subscribed
        pusher.subscribe("review")
        post_from_another_thread(relay, "review", "dana", "web-ui")
        post_from_another_thread(relay, "proj-x", "gemini")
        await recorder.until(3)

    await running(pusher, recorder, body)
    assert sorted(recorder.ids()) == [("proj-x", "2"), ("proj-x", "4"), ("review", "1")]
    assert relay.store.get_position("claude", "proj-x") == 4
    assert relay.store.get_position("claude", "review") == 1
    assert pusher.channels == ["proj-x", "review"]


async def test_the_loop_guard_holds_messages_and_keeps_them_unread_until_a_person_writes(
    relay: Relay,
) -> None:
    pusher, recorder = Pusher(relay, "claude", LoopGuard(3), ["proj-x"]), Recorder()

    async def body() -> None:
        for _ in range(4):  # agents only: #1 and #2 wake, #3 and #4 are held
            post_from_another_thread(relay, "proj-x", "codex")
        await recorder.until(2)
        post_from_another_thread(relay, "proj-x", "dana", "web-ui")  # a person: #5 wakes
        await recorder.until(3)

    await running(pusher, recorder, body)
    assert recorder.ids() == [("proj-x", "1"), ("proj-x", "2"), ("proj-x", "5")]
    assert relay.store.get_position("claude", "proj-x") == 2  # #3 and #4 were never shown: still unread
    unread = relay.fetch("proj-x", identity="claude")["messages"]
    assert [m["id"] for m in unread] == [3, 4, 5]


async def test_a_read_in_progress_holds_the_push_and_what_it_returned_is_not_pushed(relay: Relay) -> None:
    pusher, recorder = Pusher(relay, "claude", LoopGuard(12), ["proj-x"]), Recorder()

    async def body() -> None:
        pusher.begin_read("proj-x")
        post_from_another_thread(relay, "proj-x", "codex")
        await anyio.sleep(0.2)
        assert recorder.pushed == []
        pusher.end_read("proj-x", 1)
        post_from_another_thread(relay, "proj-x", "codex")
        await recorder.until(1)

    await running(pusher, recorder, body)
    assert recorder.ids() == [("proj-x", "2")]


def test_the_pushed_text_names_sender_and_channel_says_untrusted_and_how_to_answer() -> None:
    record = {
        "id": 7,
        "ts": 1.0,
        "target": "proj-x",
        "sender": "codex",
        "text": "LGTM",
        "source": "mcp",
        "reply_to": 3,
    }
    content = channel_content(record)
    assert content.startswith(untrusted_framing("proj-x", ["codex via mcp"]))
    assert 'post_message(target="proj-x", reply_to=7)' in content
    assert content.endswith("\n\nLGTM")
    assert channel_meta(record) == {"target": "proj-x", "id": "7", "sender": "codex", "reply_to": "3"}
