"""The viewer in real headless Chromium against a real relay-web process (and a real relay-stdio)."""

from __future__ import annotations

import json
import re
import subprocess
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from mcp import Client, StdioServerParameters
from playwright.async_api import Browser, BrowserContext, Page, Route, async_playwright, expect

from shared.storage.files.store import FileStore
from shared.trust import source_title
from tests.e2e.browser import CHROMIUM_ARGS, chromium_path
from tests.e2e.conftest import child_env, relay_cli, relay_stdio_command
from tests.e2e.web_server import running_relay_web

pytestmark = [pytest.mark.anyio, pytest.mark.e2e, pytest.mark.slow]

HOSTILE = [
    "<script>window.__pwned = 1; alert(1)</script>",
    '<img src=x onerror="window.__pwned = 2; alert(2)">',
    "<svg onload=alert(3)><circle r=5 /></svg>",
    "[click me](javascript:alert(4))",
    '<a href="javascript:alert(5)">raw link</a>',
    "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCg2KTwvc2NyaXB0Pg==)",
    "<!-- <script>alert(7)</script> --> comment",
    "<iframe src=\"javascript:alert(8)\"></iframe><div onmouseover='alert(9)'>unclosed <b>",
    '`code` "><script>alert(10)</script>',
    "<style>body { display: none }</style>",
]


class Relay:
    """A running relay-web, its store, and a way to post to it like a script."""

    def __init__(self, base: str, data_dir: Path) -> None:
        self.base = base
        self.data_dir = data_dir

    def post(self, target: str, text: str, sender: str = "script") -> dict:  # type: ignore[type-arg]
        body = json.dumps({"target": target, "sender": sender, "text": text}).encode()
        request = urllib.request.Request(
            f"{self.base}/api/messages", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())  # type: ignore[no-any-return]

    def stored(self, target: str) -> list[dict]:  # type: ignore[type-arg]
        path = self.data_dir / "channels" / f"{target}.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()]


def start(tmp_path: Path, **env: str) -> Iterator[Relay]:
    data_dir = tmp_path / "store"
    with running_relay_web(tmp_path / "home", data_dir, **env) as (base, _):
        yield Relay(base, data_dir)


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[Relay]:
    yield from start(tmp_path)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    executable = chromium_path()
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


class Offline:
    """Aborts every request that leaves this machine and remembers it."""

    def __init__(self) -> None:
        self.outside: list[str] = []
        self.local: list[str] = []

    async def handle(self, route: Route) -> None:
        url = route.request.url
        if urlsplit(url).hostname in ("127.0.0.1", "localhost"):
            self.local.append(url)
            await route.continue_()
        else:
            self.outside.append(url)
            await route.abort()


async def open_context(browser: Browser, **options: object) -> tuple[BrowserContext, Offline]:
    context = await browser.new_context(viewport={"width": 1000, "height": 700}, **options)  # type: ignore[arg-type]
    offline = Offline()
    await context.route("**/*", offline.handle)
    return context, offline


async def open_page(browser: Browser, url: str, **options: object) -> tuple[Page, Offline, list[str]]:
    context, offline = await open_context(browser, **options)
    page = await context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on("dialog", lambda dialog: problems.append(f"dialog: {dialog.message}"))
    await page.goto(url)
    return page, offline, problems


async def test_composer_posts_and_the_message_appears(browser: Browser, relay: Relay) -> None:
    page, offline, problems = await open_page(browser, f"{relay.base}/channels/proj-x")
    await page.fill("#c-sender", "alice")
    await page.fill("#c-text", "Hello from the **browser**")
    await page.press("#c-text", "Control+Enter")
    message = page.locator("#m-1")
    await expect(message.locator(".msg-body strong")).to_have_text("browser")
    await expect(message.locator(".msg-sender")).to_have_text("alice")
    await expect(page.locator("#c-text")).to_have_value("")
    [stored] = relay.stored("proj-x")
    assert (stored["id"], stored["sender"], stored["text"], stored["source"]) == (
        1,
        "alice",
        "Hello from the **browser**",
        "web-ui",
    )
    await page.reload()
    await expect(page.locator("#c-sender")).to_have_value("alice")  # the sender is remembered
    await page.fill("#c-text", "second, with the button")
    await page.click("#c-send")
    await expect(page.locator("#m-2 .msg-body")).to_have_text("second, with the button")
    assert [m["text"] for m in relay.stored("proj-x")][1] == "second, with the button"
    assert problems == [] and offline.outside == []


async def test_a_refused_post_shows_the_reason(browser: Browser, tmp_path: Path) -> None:
    for small in start(tmp_path, CLAUDE_CODEX_MAX_MESSAGE_BYTES="50"):
        page, _, problems = await open_page(browser, f"{small.base}/channels/proj-x")
        await page.fill("#c-text", "x" * 80)
        await page.click("#c-send")
        error = page.locator("#c-error")
        await expect(error).to_be_visible()
        await expect(error).to_contain_text("text is 80 bytes of UTF-8; the limit is 50 bytes")
        await expect(page.locator("#c-text")).to_have_value("x" * 80)  # kept, so it can be shortened
        assert not (small.data_dir / "channels" / "proj-x.jsonl").exists()
        assert problems == []


async def test_a_message_from_a_real_relay_stdio_appears_without_reload(
    browser: Browser, relay: Relay
) -> None:
    page, _, problems = await open_page(browser, f"{relay.base}/channels/proj-x")
    await page.evaluate("window.__sameDocument = 42")
    command = relay_stdio_command()
    params = StdioServerParameters(
        command=command[0],
        args=[*command[1:], "--data-dir", str(relay.data_dir), "--sender", "codex"],
        env=child_env(relay.data_dir.parent / "agent-home"),
        cwd=str(relay.data_dir.parent),
    )
    async with Client(params) as agent:
        first = await agent.call_tool("post_message", {"target": "proj-x", "text": "Review: **LGTM**"})
        second = await agent.call_tool("post_message", {"target": "proj-x", "text": "```diff\n-a\n+b\n```"})
    assert (first.structured_content["posted"], second.structured_content["posted"]) == (1, 2)
    await expect(page.locator("#m-1 .msg-body strong")).to_have_text("LGTM")
    await expect(page.locator("#m-1 .msg-sender")).to_have_text("codex")
    await expect(page.locator("#m-2 .highlight .gi")).to_have_text("+b")
    assert await page.locator("article.msg").evaluate_all("els => els.map(e => e.dataset.id)") == ["1", "2"]
    assert await page.evaluate("window.__sameDocument") == 42  # updated in place, not reloaded
    assert problems == []


def append_by_hand(data_dir: Path, record: dict[str, object]) -> None:
    """A line written into the channel file without the relay, as a person or another program might."""
    with (data_dir / "channels" / f"{record['target']}.jsonl").open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")


async def expect_badge(page: Page, message_id: int, source: str) -> None:
    badge = page.locator(f"#m-{message_id} .msg-head .msg-sender + .msg-source")
    await expect(badge).to_have_text(f"via {source}")
    await expect(badge).to_have_attribute("title", source_title(source))


async def test_every_message_shows_how_it_arrived_next_to_its_sender(browser: Browser, relay: Relay) -> None:
    """The source badge, from the page template and from live updates alike, for every source."""
    FileStore(relay.data_dir).append("proj-x", "codex", "from an agent", source="mcp")
    relay.post("proj-x", "from a script", sender="codex")
    append_by_hand(relay.data_dir, {"id": 3, "ts": 1.0, "target": "proj-x", "sender": "codex", "text": "x"})
    page, _, problems = await open_page(browser, f"{relay.base}/channels/proj-x")
    for message_id, source in ((1, "mcp"), (2, "api"), (3, "file")):
        await expect_badge(page, message_id, source)
    cli = [
        *relay_cli(),
        "--data-dir",
        str(relay.data_dir),
        "post",
        "proj-x",
        "from a terminal",
        "--sender",
        "codex",
    ]
    subprocess.run(cli, check=True, capture_output=True, timeout=60)
    await page.fill("#c-sender", "codex")
    await page.fill("#c-text", "from the viewer")
    await page.click("#c-send")
    await expect(page.locator("#m-5")).to_have_count(1)
    odd = {"id": 6, "ts": 2.0, "target": "proj-x", "sender": "codex", "text": "y", "source": "email"}
    append_by_hand(relay.data_dir, odd)
    for message_id, source in ((4, "cli"), (5, "web-ui"), (6, "unknown")):
        await expect_badge(page, message_id, source)
    assert [m.get("source") for m in relay.stored("proj-x")] == ["mcp", "api", None, "cli", "web-ui", "email"]
    assert problems == []


async def test_hostile_messages_do_not_execute(browser: Browser, relay: Relay) -> None:
    for text in HOSTILE:
        relay.post("proj-x", text, sender="<img src=x onerror=alert(11)>")
    page, _, problems = await open_page(browser, f"{relay.base}/channels/proj-x")
    await expect(page.locator("article.msg")).to_have_count(len(HOSTILE))
    for text in HOSTILE:  # the same again, arriving through live updates
        relay.post("proj-x", text)
    await expect(page.locator("article.msg")).to_have_count(2 * len(HOSTILE))
    await page.hover("#message-list")
    injected = await page.evaluate(
        """() => document.querySelectorAll(
            '#message-list script, #message-list img, #message-list svg, #message-list iframe,'
            + ' #message-list style, #message-list [onerror], #message-list [onload],'
            + ' #message-list [onmouseover], #message-list a[href^="javascript"],'
            + ' #message-list a[href^="data"]'
        ).length"""
    )
    assert injected == 0
    assert await page.evaluate("window.__pwned") is None
    assert await page.locator("body").is_visible()  # the <style> did not hide the page
    await expect(page.locator("#m-1 .msg-body")).to_contain_text("<script>window.__pwned = 1")
    await expect(page.locator("#m-1 .msg-sender")).to_have_text("<img src=x onerror=alert(11)>")
    assert problems == []


async def test_the_viewer_works_with_the_outside_network_blocked(browser: Browser, relay: Relay) -> None:
    relay.post("proj-x", "```python\ndef f():\n    return 1\n```", sender="claude")
    page, offline, problems = await open_page(browser, f"{relay.base}/")
    await expect(page.locator('tr[data-target="proj-x"] td.num')).to_have_text("1")
    await page.click('a[href="/channels/proj-x"]')
    await expect(page.locator("#m-1")).to_be_visible()
    # The relative time is written by the page's script after load: wait for it, then read everything.
    await expect(page.locator("#m-1 .rel")).to_have_text("just now")
    styles = await page.evaluate(
        """() => ({
            width: getComputedStyle(document.body).maxWidth,
            keyword: getComputedStyle(document.querySelector('.highlight .k')).fontWeight,
            relative: document.querySelector('#m-1 .rel').textContent,
        })"""
    )
    assert styles == {"width": "980px", "keyword": "700", "relative": "just now"}  # CSS and JS loaded
    assert offline.outside == []
    assert any(url.endswith("/static/relay.js") for url in offline.local)
    assert problems == []


async def test_load_older_pages_back_and_keeps_the_place(browser: Browser, relay: Relay) -> None:
    store = FileStore(relay.data_dir)
    for i in range(1, 121):
        store.append("proj-x", "claude", f"message {i}")
    page, _, problems = await open_page(browser, f"{relay.base}/channels/proj-x")
    articles = page.locator("article.msg")
    await expect(articles).to_have_count(50)
    assert await page.evaluate("window.scrollY") > 0  # opened at the latest message
    await page.evaluate("window.scrollTo(0, 0)")
    before = await page.locator("#m-71").bounding_box()
    await page.click("#load-older")
    await expect(articles).to_have_count(100)
    after = await page.locator("#m-71").bounding_box()
    assert before is not None and after is not None and abs(after["y"] - before["y"]) < 2
    await page.evaluate("window.scrollTo(0, 0)")
    await page.click("#load-older")
    await expect(articles).to_have_count(120)
    await expect(page.locator("#load-older")).to_be_hidden()
    ids = await articles.evaluate_all("els => els.map(e => Number(e.dataset.id))")
    assert ids == list(range(1, 121))
    assert problems == []


async def test_live_updates_keep_the_reader_place_and_expanded_messages(
    browser: Browser, relay: Relay
) -> None:
    long_text = "\n".join(f"line {i} of a long review" for i in range(120))
    relay.post("proj-x", long_text)
    for i in range(20):
        relay.post("proj-x", f"short {i}")
    page, _, problems = await open_page(browser, f"{relay.base}/channels/proj-x")
    long_message = page.locator("#m-1")
    await expect(long_message).to_have_class(re.compile(r"\bcollapsible collapsed\b"))
    toggle = long_message.locator(".msg-toggle")
    await expect(toggle).to_have_text("Show more")
    await toggle.click()
    await expect(toggle).to_have_text("Show less")
    await expect(long_message).not_to_have_class(re.compile(r"\bcollapsed\b"))
    await page.evaluate("window.scrollTo(0, 0)")
    relay.post("proj-x", "arrives while reading above")
    await expect(page.locator("#m-22")).to_be_attached()
    assert await page.evaluate("window.scrollY") == 0  # not yanked to the bottom
    await expect(toggle).to_have_text("Show less")  # the expanded message stayed expanded
    await page.evaluate("window.scrollTo(0, document.documentElement.scrollHeight)")
    relay.post("proj-x", "arrives while at the bottom")
    await expect(page.locator("#m-23")).to_be_attached()
    pinned = await page.evaluate(
        "() => window.innerHeight + window.scrollY >= document.documentElement.scrollHeight - 80"
    )
    assert pinned  # a reader at the bottom follows the conversation
    await page.reload()
    await expect(page.locator("#m-1 .msg-toggle")).to_have_text("Show less")  # remembered in the tab
    assert problems == []


async def test_the_channel_list_shows_new_channels_without_reload(browser: Browser, relay: Relay) -> None:
    page, _, problems = await open_page(browser, f"{relay.base}/")
    await expect(page.locator('tr[data-target="proj-x"]')).to_be_visible()
    await page.evaluate("window.__sameDocument = 1")
    relay.post("fresh-channel", "first", sender="codex")
    row = page.locator('tr[data-target="fresh-channel"]')
    await expect(row.locator("td.num")).to_have_text("1")
    await expect(row.locator("td").nth(2)).to_have_text("codex")
    relay.post("fresh-channel", "second", sender="claude")
    await expect(row.locator("td.num")).to_have_text("2")
    assert await page.evaluate("window.__sameDocument") == 1
    await page.fill("#c-target", "fresh-channel")
    await page.fill("#c-text", "from the list page")
    await page.press("#c-text", "Control+Enter")
    await page.wait_for_url(f"{relay.base}/channels/fresh-channel")
    await expect(page.locator("#m-3 .msg-body")).to_have_text("from the list page")
    assert problems == []


async def test_the_theme_follows_the_system_and_the_choice_is_remembered(
    browser: Browser, relay: Relay
) -> None:
    page, _, problems = await open_page(browser, f"{relay.base}/", color_scheme="dark")
    background = "() => getComputedStyle(document.body).backgroundColor"
    assert await page.evaluate(background) == "rgb(20, 23, 28)"
    toggle = page.locator("#theme-toggle")
    await expect(toggle).to_have_text("Theme: auto")
    await toggle.click()
    await expect(toggle).to_have_text("Theme: light")
    assert await page.evaluate(background) == "rgb(246, 247, 249)"
    await page.reload()
    await expect(toggle).to_have_text("Theme: light")
    assert await page.evaluate("document.documentElement.dataset.theme") == "light"
    await toggle.click()
    await expect(toggle).to_have_text("Theme: dark")
    assert await page.evaluate(background) == "rgb(20, 23, 28)"
    assert problems == []


async def test_with_an_auth_token_a_person_logs_in_once_and_posts(browser: Browser, tmp_path: Path) -> None:
    for locked in start(tmp_path, CLAUDE_CODEX_AUTH_TOKEN="tok-" + "x" * 40):
        page, offline, problems = await open_page(browser, f"{locked.base}/channels/proj-x")
        await expect(page).to_have_url(re.compile(r"/login\?next=/channels/proj-x$"))
        await page.fill('input[name="token"]', "wrong")
        await page.click('button[type="submit"]')
        await expect(page.locator(".composer-error")).to_have_text("That is not this relay's token.")
        await page.fill('input[name="token"]', "tok-" + "x" * 40)
        await page.click('button[type="submit"]')
        await expect(page).to_have_url(f"{locked.base}/channels/proj-x")
        await page.fill("#c-text", "posted after logging in")
        await page.press("#c-text", "Control+Enter")
        await expect(page.locator("#m-1 .msg-body")).to_have_text("posted after logging in")
        assert locked.stored("proj-x")[0]["source"] == "web-ui"
        assert offline.outside == []
        assert problems == []
