"""wait_for_messages: the shared waiting rules, through the SDK's in-memory client and directly."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client

from relay_stdio.server import build_server
from shared import waiting
from shared.config import Config
from shared.relay import Relay

pytestmark = pytest.mark.anyio

# A guard against a wait that never returns; the tests assert behaviour, never durations.
HANG_GUARD_S = 30


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def call(client: Client, **arguments: Any) -> dict[str, Any]:
    with anyio.fail_after(HANG_GUARD_S):
        result = await client.call_tool("wait_for_messages", arguments)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


def triples(result: dict[str, Any]) -> list[tuple[int, str, str]]:
    return [(m["id"], m["sender"], m["text"]) for m in result["messages"]]


async def test_returns_at_once_with_what_is_pending(relay: Relay) -> None:
    relay.post("proj-x", "packet", "claude", source="mcp")
    relay.post("proj-x", "verdict", "codex", source="mcp")
    async with Client(build_server(relay, identity="claude"), raise_exceptions=True) as client:
        # A long timeout: only the pending message can make this return.
        result = await call(client, target="proj-x", timeout_s=600)
    assert triples(result) == [(2, "codex", "verdict")]
    assert result["latest_id"] == 2 and result["since_id"] == 0 and result["has_more"] is False
    assert relay.store.get_position("claude", "proj-x") == 2


async def test_own_posts_never_wake_and_are_not_returned(relay: Relay) -> None:
    relay.post("proj-x", "my packet", "claude", source="mcp")
    async with Client(build_server(relay, identity="claude"), raise_exceptions=True) as client:
        result = await call(client, target="proj-x", timeout_s=0.2)
        assert result == {"messages": [], "latest_id": 0, "has_more": False, "since_id": 0}
        assert relay.store.get_position("claude", "proj-x") == 0  # nothing returned, nothing moved
        relay.post("proj-x", "LGTM", "Codex", source="mcp")
        relay.post("proj-x", "thanks", "CLAUDE", source="mcp")  # own, whatever the case
        result = await call(client, target="proj-x", timeout_s=5)
    assert triples(result) == [(2, "Codex", "LGTM")]
    # The position passes over the caller's own posts around the returned message.
    assert result["latest_id"] == 3
    assert relay.store.get_position("claude", "proj-x") == 3


async def test_empty_at_the_timeout_and_the_position_stays(relay: Relay) -> None:
    relay.post("proj-x", "old", "codex", source="mcp")
    relay.store.advance_position("claude", "proj-x", 1)
    async with Client(build_server(relay, identity="claude"), raise_exceptions=True) as client:
        result = await call(client, target="proj-x", timeout_s=0.3)
        zero = await call(client, target="proj-x", timeout_s=0)
    assert result == {"messages": [], "latest_id": 1, "has_more": False, "since_id": 1}
    assert zero == result
    assert relay.store.get_position("claude", "proj-x") == 1


async def test_from_sender_waits_for_that_sender_and_returns_what_came_before_too(relay: Relay) -> None:
    relay.post("proj-x", "packet", "claude", source="mcp")
    relay.post("proj-x", "a note from a person", "ada", source="web-ui")
    async with Client(build_server(relay, identity="claude"), raise_exceptions=True) as client:
        quiet = await call(client, target="proj-x", from_sender="codex", timeout_s=0.2)
        assert quiet["messages"] == [] and relay.store.get_position("claude", "proj-x") == 0
        relay.post("proj-x", "verdict: approve", "codex", source="mcp")
        result = await call(client, target="proj-x", from_sender="codex", timeout_s=5)
    # Ada's note is returned too: the saved position never jumps over an unseen message.
    assert triples(result) == [(2, "ada", "a note from a person"), (3, "codex", "verdict: approve")]
    assert relay.store.get_position("claude", "proj-x") == 3


async def test_explicit_since_id_leaves_the_saved_position_alone(relay: Relay) -> None:
    for i in range(4):
        relay.post("proj-x", f"m{i}", "codex", source="mcp")
    async with Client(build_server(relay, identity="claude"), raise_exceptions=True) as client:
        result = await call(client, target="proj-x", since_id=2, timeout_s=5)
    assert [m["id"] for m in result["messages"]] == [3, 4]
    assert relay.store.get_position("claude", "proj-x") == 0


async def test_limit_and_has_more(relay: Relay) -> None:
    for i in range(5):
        relay.post("proj-x", f"m{i}", "codex", source="mcp")
        relay.post("proj-x", f"ack{i}", "claude", source="mcp")
    async with Client(build_server(relay, identity="claude"), raise_exceptions=True) as client:
        first = await call(client, target="proj-x", limit=2, timeout_s=5)
        rest = await call(client, target="proj-x", limit=10, timeout_s=5)
    assert triples(first) == [(1, "codex", "m0"), (3, "codex", "m1")]
    assert first["has_more"] is True and first["latest_id"] == 4
    assert [m["text"] for m in rest["messages"]] == ["m2", "m3", "m4"]
    assert rest["has_more"] is False and rest["latest_id"] == 10


async def test_wakes_when_another_thread_posts(relay: Relay, config: Config) -> None:
    other = Relay(config)  # its own store object, as another process would have
    posted: list[dict[str, Any]] = []

    def post_later() -> None:
        posted.append(other.post("proj-x", "from elsewhere", "codex", source="cli"))

    async with Client(build_server(relay, identity="claude"), raise_exceptions=True) as client:
        timer = threading.Timer(0.3, post_later)
        timer.start()
        try:
            result = await call(client, target="proj-x", timeout_s=600)
        finally:
            timer.join()
    assert triples(result) == [(posted[0]["id"], "codex", "from elsewhere")]


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"target": "../x"}, "letters, digits"),
        ({"target": "t", "timeout_s": -1}, "timeout_s"),
        ({"target": "t", "since_id": -2}, "since_id"),
        ({"target": "t", "from_sender": "x" * 65}, "at most 64"),
        ({"target": "t", "timeout_s": "soon"}, "timeout_s"),
    ],
)
async def test_bad_arguments_are_tool_errors(relay: Relay, arguments: dict[str, Any], expected: str) -> None:
    async with Client(build_server(relay, identity="claude"), raise_exceptions=True) as client:
        result = await client.call_tool("wait_for_messages", arguments)
    assert result.is_error
    assert expected in result.content[0].text  # type: ignore[union-attr]


async def test_a_huge_timeout_is_clamped_not_refused() -> None:
    assert waiting.clamp_timeout(10**9) == waiting.MAX_TIMEOUT_S
    assert waiting.clamp_timeout(None) == waiting.DEFAULT_TIMEOUT_S
    assert waiting.clamp_timeout(0) == 0.0


async def test_a_cancelled_wait_leaves_everything_as_it_was(relay: Relay) -> None:
    async with Client(build_server(relay, identity="claude"), raise_exceptions=True) as client:
        with anyio.move_on_after(0.3) as scope:
            await client.call_tool("wait_for_messages", {"target": "proj-x", "timeout_s": 600})
        assert scope.cancelled_caught
        relay.post("proj-x", "after the cancel", "codex", source="cli")
        # The server is free, and the message is still unread for this identity.
        result = await call(client, target="proj-x", timeout_s=600)
    assert triples(result) == [(1, "codex", "after the cancel")]


def test_the_blocking_twin_follows_the_same_rules(relay: Relay) -> None:
    relay.post("proj-x", "mine", "claude", source="cli")
    assert waiting.wait_for_messages_sync(relay, "proj-x", identity="claude", timeout_s=0.1)["messages"] == []
    timer = threading.Timer(0.2, lambda: relay.post("proj-x", "yours", "codex", source="cli"))
    timer.start()
    try:
        result = waiting.wait_for_messages_sync(relay, "proj-x", identity="claude", timeout_s=60)
    finally:
        timer.join()
    assert triples(result) == [(2, "codex", "yours")]
    assert relay.store.get_position("claude", "proj-x") == 2


def test_channel_watch_reads_only_after_a_change(relay: Relay) -> None:
    relay.post("proj-x", "one", "claude", source="cli")
    watch = waiting.ChannelWatch(relay.store, "proj-x", 0, waiting.message_filter("claude", None))
    assert watch.poll() is None and watch.checked == 1  # read once, own post skipped
    assert watch.changed() is False  # nothing new: the next poll reads nothing
    relay.post("proj-x", "two", "codex", source="cli")
    found = watch.poll()
    assert found is not None and found["text"] == "two"


# A relay process that has run out of descriptors: RLIMIT_NOFILE 64, every descriptor taken, then one
# given back, then a post arrives from another process while the wait sleeps.
OUT_OF_DESCRIPTORS = """
import contextlib, json, os, resource, subprocess, sys
import anyio
with contextlib.suppress(ImportError):  # the SDK logs a crash through rich when it is installed:
    import rich.traceback  # imported now, as importing it later would need a descriptor
from mcp import Client
from relay_stdio.server import build_server
from shared.config import resolve_config
from shared.relay import Relay

BEFORE = (
    "import sys; from shared.storage.files.store import FileStore as S; "
    "S(sys.argv[1]).append('t', 'codex', 'before')"
)
POSTER = (
    "import sys; from shared.storage.files.store import FileStore as S; sys.stdin.readline(); "
    "S(sys.argv[1]).append('t', 'codex', 'during')"
)

def exhaust():
    held = []
    while True:
        try:
            held.append(os.open(os.devnull, os.O_RDONLY))
        except OSError:
            return held

def seen(result):
    if result.is_error:
        return result.content[0].text
    return [m["text"] for m in result.structured_content["messages"]]

async def main(data_dir):
    relay = Relay(resolve_config({"data_dir": data_dir}, env={}))
    # Posted by another process, so this one holds no channel handles it could give back under EMFILE.
    subprocess.run([sys.executable, "-c", BEFORE, data_dir], check=True)
    poster = subprocess.Popen([sys.executable, "-c", POSTER, data_dir], stdin=subprocess.PIPE)
    outcome = {}
    async with Client(build_server(relay, identity="claude")) as client:
        held = exhaust()
        call = {"target": "t", "since_id": 0, "timeout_s": 5}
        outcome["exhausted"] = seen(await client.call_tool("wait_for_messages", call))
        os.close(held.pop())
        outcome["one_free"] = seen(await client.call_tool("wait_for_messages", call))

        async def post_soon():
            await anyio.sleep(0.3)
            poster.stdin.write(b"go\\n")
            poster.stdin.flush()

        async with anyio.create_task_group() as group:
            group.start_soon(post_soon)
            call = {"target": "t", "since_id": 1, "timeout_s": 30}
            outcome["posted_during"] = seen(await client.call_tool("wait_for_messages", call))
        for fd in held:
            os.close(fd)
    poster.wait()
    print(json.dumps(outcome))

resource.setrlimit(resource.RLIMIT_NOFILE, (64, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
anyio.run(main, sys.argv[1])
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="descriptor limits as Linux has them")
def test_a_wait_out_of_descriptors_is_a_clear_error_then_works_by_polling(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    run = subprocess.run(
        [sys.executable, "-c", OUT_OF_DESCRIPTORS, str(data_dir)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    outcome = json.loads(run.stdout)
    # No descriptor at all: the model reads what is wrong, not a bare "Error executing tool".
    assert "cannot open channel file" in outcome["exhausted"]
    assert "Too many open files" in outcome["exhausted"]
    # One descriptor: no notifier may take it (nor a subprocess looking for libc); the wait polls.
    assert outcome["one_free"] == ["before"]
    assert outcome["posted_during"] == ["during"]
    lines = (data_dir / "channels" / "t.jsonl").read_text().splitlines()
    assert [(r["id"], r["text"]) for r in map(json.loads, lines)] == [(1, "before"), (2, "during")]
