"""Several "machines" sharing only a PostgreSQL URL: each its own HOME and data dir, real relay-stdio
processes driven by the official MCP client, and a relay-web (a third HOME) watched in Chromium."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

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


def test_the_cli_watch_and_check_work_on_postgresql_and_no_log_holds_the_password(
    tmp_path: Path, pg_url: str
) -> None:
    import subprocess

    from tests.e2e.conftest import relay_cli
    from tests.pg_cluster import PASSWORD

    env = child_env(tmp_path, CLAUDE_CODEX_STORE=pg_url, CLAUDE_CODEX_DATA_DIR=str(tmp_path / "local"))

    def relay(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*relay_cli(), *args], env=env, capture_output=True, text=True, timeout=120)

    assert relay("post", "proj-x", "packet one", "--sender", "claude").returncode == 0
    seen = tmp_path / "batch.txt"
    watch = subprocess.Popen(
        [*relay_cli(), "watch", "proj-x", "--from", "codex", "--once", "--since", "0", "--exec",
         f'printf "%s|%s" "$RELAY_IDS" "$RELAY_SENDER" > "{seen}"'],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert relay("post", "proj-x", "verdict", "--sender", "codex").returncode == 0
        _, err = watch.communicate(timeout=120)
    finally:
        watch.kill()
    assert watch.returncode == 0, err
    assert seen.read_text() == "2|codex"
    check = relay("check")
    assert check.returncode == 0 and "0 problem(s)" in check.stdout, check.stdout + check.stderr
    tail = relay("tail", "proj-x")
    assert "packet one" in tail.stdout and "verdict" in tail.stdout
    for log in (tmp_path / "local" / "log").glob("*"):
        assert PASSWORD not in log.read_text(errors="replace") and "s3cret" not in log.read_text(
            errors="replace"
        )


async def test_relay_stdio_starts_with_the_database_down_and_answers_once_it_is_back(
    tmp_path: Path, pg_cluster: Any
) -> None:
    url = pg_cluster.url(pg_cluster.new_database())
    pg_cluster.stop("fast")
    try:
        async with Client(machine(tmp_path, "early", url, "claude")) as agent:
            names = {tool.name for tool in (await agent.list_tools()).tools}
            assert {"post_message", "fetch_messages", "wait_for_messages"} <= names
            failed = await agent.call_tool("post_message", {"target": "t", "text": "while down"})
            assert failed.is_error
            assert "store unavailable: cannot reach PostgreSQL" in failed.content[0].text
            assert "s3cret" not in failed.content[0].text
            pg_cluster.start()
            with anyio.fail_after(60):
                while True:  # the same process recovers by itself
                    done = await agent.call_tool("post_message", {"target": "t", "text": "back"})
                    if not done.is_error:
                        break
                    await anyio.sleep(0.2)
            fetched = await agent.call_tool("fetch_messages", {"target": "t", "since_id": 0})
            assert [m["text"] for m in fetched.structured_content["messages"]] == ["back"]
    finally:
        if not _running(pg_cluster):
            pg_cluster.start()


def _running(cluster: Any) -> bool:
    import subprocess

    done = subprocess.run([str(cluster.bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(cluster.port)],
                          capture_output=True)  # fmt: skip
    return done.returncode == 0
