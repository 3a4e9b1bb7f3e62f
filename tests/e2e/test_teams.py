"""Several "machines" sharing only a PostgreSQL URL: each its own HOME and data dir, real relay-stdio
processes driven by the official MCP client, and a relay-web (a third HOME) watched in Chromium."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters
from playwright.async_api import async_playwright, expect

from shared.storage import open_store
from tests.e2e.browser import CHROMIUM_ARGS, chromium_path
from tests.e2e.conftest import child_env, relay_stdio_command
from tests.e2e.web_server import running_relay_web

pytestmark = [pytest.mark.anyio, pytest.mark.e2e, pytest.mark.slow]


def machine(root: Path, name: str, url: str, sender: str) -> StdioServerParameters:
    """relay-stdio as on its own machine: its own HOME (so its own default data dir), only the URL shared."""
    home = root / name
    home.mkdir(parents=True, exist_ok=True)
    command = relay_stdio_command()
    return StdioServerParameters(
        command=command[0],
        args=[*command[1:], "--sender", sender],
        env=child_env(home, CLAUDE_CODEX_STORE=url),
        cwd=str(home),
    )


@asynccontextmanager
async def agents(root: Path, url: str, *senders: str) -> AsyncIterator[list[Client]]:
    async with AsyncExitStack() as stack:
        clients = []
        for sender in senders:
            clients.append(await stack.enter_async_context(Client(machine(root, sender, url, sender))))
        yield clients


async def test_agents_on_separate_machines_talk_through_one_database(tmp_path: Path, pg_url: str) -> None:
    async with agents(tmp_path, pg_url, "claude", "codex") as (claude, codex):
        sent = await claude.call_tool("post_message", {"target": "proj-x", "text": "please review"})
        assert not sent.is_error, sent.content
        got = await codex.call_tool("fetch_messages", {"target": "proj-x"})
        assert [(m["id"], m["sender"], m["text"]) for m in got.structured_content["messages"]] == [
            (1, "claude", "please review")
        ]

        async def answer_later() -> None:
            await anyio.sleep(0.5)
            await codex.call_tool("post_message", {"target": "proj-x", "text": "LGTM", "reply_to": 1})

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(answer_later)
            woken = await claude.call_tool("wait_for_messages", {"target": "proj-x", "timeout_s": 30})
        assert [(m["id"], m["sender"], m["text"], m.get("reply_to")) for m in woken.structured_content[
            "messages"]] == [(2, "codex", "LGTM", 1)]  # fmt: skip
        channels = await claude.call_tool("list_channels", {})
        details = {d["target"]: d for d in channels.structured_content["details"]}
        assert details["proj-x"]["latest_id"] == 2 and details["proj-x"]["last_sender"] == "codex"
    for name in ("claude", "codex"):  # nothing of the conversation is on either machine's disk
        channels_dir = tmp_path / name / ".local" / "share" / "claude-codex-relay" / "channels"
        assert not channels_dir.exists() or not any(channels_dir.iterdir())


async def test_four_machines_posting_at_once_get_ids_1_to_n_with_every_text_once(
    tmp_path: Path, pg_url: str
) -> None:
    per_agent = 25
    names = [f"agent-{n}" for n in range(4)]
    acknowledged: list[tuple[int, str]] = []
    async with agents(tmp_path, pg_url, *names) as clients:

        async def post_all(client: Client, name: str) -> None:
            for seq in range(per_agent):
                text = f"{name} says {seq}"
                done = await client.call_tool("post_message", {"target": "busy", "text": text})
                assert not done.is_error, done.content
                acknowledged.append((done.structured_content["posted"], text))

        async with anyio.create_task_group() as tasks:
            for client, name in zip(clients, names, strict=True):
                tasks.start_soon(post_all, client, name)
    store = open_store(pg_url)
    records, _ = store.read_since("busy", 0, 200)
    store.close()
    total = per_agent * len(names)
    assert [r["id"] for r in records] == list(range(1, total + 1))
    assert sorted(acknowledged) == sorted((r["id"], r["text"]) for r in records)
    assert len({r["text"] for r in records}) == total


async def test_a_viewer_on_a_third_machine_shows_their_messages_live(tmp_path: Path, pg_url: str) -> None:
    viewer_home = tmp_path / "viewer"
    with running_relay_web(viewer_home, viewer_home / "data", CLAUDE_CODEX_STORE=pg_url) as (base, printed):
        assert "postgresql://" in printed and "s3cret" not in printed
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
            try:
                page = await browser.new_page()
                await page.goto(f"{base}/channels/proj-x")
                async with agents(tmp_path, pg_url, "claude", "codex") as (claude, codex):
                    await claude.call_tool("post_message", {"target": "proj-x", "text": "packet **one**"})
                    await expect(page.locator("#m-1 .msg-body strong")).to_have_text("one")
                    await codex.call_tool("post_message", {"target": "proj-x", "text": "verdict: approve"})
                    await expect(page.locator("#m-2 .msg-sender")).to_have_text("codex")
                    await expect(page.locator("#m-2 .msg-body")).to_contain_text("verdict: approve")
            finally:
                await browser.close()
