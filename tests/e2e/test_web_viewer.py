"""The viewer for people who supervise agents, in real Chromium at desktop (1280) and phone (390) widths.

Search, threads, read receipts and presence, unread markers, notifications, accessibility (axe-core
from npm) and the fixes of issue 13, each against a real relay-web process and its real store.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import zlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect

from shared.config import resolve_config
from shared.relay import Relay as SharedRelay
from shared.storage.files.store import FileStore
from tests.e2e.test_web_browser import Offline, Relay, start
from tests.e2e.test_web_browser import browser as browser  # the fixture, shared

pytestmark = [pytest.mark.anyio, pytest.mark.e2e, pytest.mark.slow]

AXE = Path(__file__).parent / "node" / "node_modules" / "axe-core" / "axe.min.js"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(params=[1280, 390], ids=["desktop", "phone"])
def width(request: pytest.FixtureRequest) -> int:
    return int(request.param)


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[Relay]:
    yield from start(tmp_path)


class Viewer:
    """One page of a fresh browser context at the test's width, with its problems collected."""

    def __init__(self, page: Page, offline: Offline) -> None:
        self.page = page
        self.offline = offline
        self.problems: list[str] = []
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))


@pytest.fixture
async def viewer(browser: Browser, width: int) -> AsyncIterator[Viewer]:
    context = await browser.new_context(viewport={"width": width, "height": 800})
    offline = Offline()
    await context.route("**/*", offline.handle)
    page = await context.new_page()
    yield Viewer(page, offline)
    await context.close()


def shared_relay(relay: Relay) -> SharedRelay:
    """The same store as the running viewer, used as an agent process would use it."""
    return SharedRelay(resolve_config({"data_dir": str(relay.data_dir)}, env={}))


def post(relay: Relay, target: str, text: str, sender: str = "script", reply_to: int | None = None) -> int:
    return shared_relay(relay).post(target, text, sender, source="api", reply_to=reply_to)["id"]


# --- the fixes -------------------------------------------------------------------------------------


async def test_times_read_relative_then_absolute_with_a_separator(relay: Relay, viewer: Viewer) -> None:
    post(relay, "proj-x", "hello")
    await viewer.page.goto(f"{relay.base}/channels/proj-x")
    time_text = viewer.page.locator("#m-1 time")
    await expect(time_text.locator(".rel")).to_have_text("just now")
    assert (await time_text.inner_text()).startswith("just now \u00b7 ")
    await viewer.page.goto(f"{relay.base}/")
    assert " \u00b7 " in await viewer.page.locator('tr[data-target="proj-x"] time').inner_text()
    assert viewer.problems == []


def colliding_senders() -> tuple[str, str]:
    """Two names whose hash picks the same one of the 8 colours (as "claude" and "codex" might)."""
    first = "claude"
    wanted = zlib.crc32(first.encode()) % 8
    for i in range(1000):
        other = f"agent-{i}"
        if zlib.crc32(other.encode()) % 8 == wanted:
            return first, other
    raise AssertionError("no collision found")


async def test_two_senders_whose_names_share_a_colour_are_shown_in_different_colours(
    relay: Relay, viewer: Viewer
) -> None:
    first, second = colliding_senders()
    post(relay, "proj-x", "one", sender=first)
    post(relay, "proj-x", "two", sender=second)
    await viewer.page.goto(f"{relay.base}/channels/proj-x")
    colour = "el => getComputedStyle(el.querySelector('.msg-sender')).color"
    await expect(viewer.page.locator("#m-1")).to_be_visible()
    assert await viewer.page.locator("#m-1").evaluate(colour) != await viewer.page.locator("#m-2").evaluate(
        colour
    )
    post(relay, "proj-x", "three", sender=second)  # arriving live keeps the sender's colour
    await expect(viewer.page.locator("#m-3")).to_be_attached()
    assert await viewer.page.locator("#m-3").evaluate(colour) == await viewer.page.locator("#m-2").evaluate(
        colour
    )
    assert viewer.problems == []


async def test_adjacent_code_blocks_do_not_touch(relay: Relay, viewer: Viewer) -> None:
    post(relay, "proj-x", "```python\na = 1\n```\n```diff\n-a\n+b\n```")
    await viewer.page.goto(f"{relay.base}/channels/proj-x")
    blocks = viewer.page.locator("#m-1 .highlight")
    await expect(blocks).to_have_count(2)
    first, second = await blocks.nth(0).bounding_box(), await blocks.nth(1).bounding_box()
    assert first is not None and second is not None
    assert second["y"] - (first["y"] + first["height"]) >= 6


async def test_empty_seed_channels_are_listed_after_channels_with_messages(
    relay: Relay, viewer: Viewer
) -> None:
    await viewer.page.goto(f"{relay.base}/")
    post(relay, "zeta", "hello")
    rows = viewer.page.locator("#channel-rows tr")
    await expect(rows.first).to_have_attribute("data-target", "zeta")  # after the list's next poll
    order = await rows.evaluate_all("rows => rows.map(r => r.dataset.target)")
    assert order == ["zeta", "claude", "codex", "proj-x"]
    await viewer.page.reload()
    assert await rows.evaluate_all("rows => rows.map(r => r.dataset.target)") == order


async def test_a_bad_channel_name_in_the_composer_states_the_rule(relay: Relay, viewer: Viewer) -> None:
    await viewer.page.goto(f"{relay.base}/")
    await viewer.page.fill("#c-target", "bad name!")
    await viewer.page.fill("#c-text", "hello")
    await viewer.page.click("#c-send")
    rule = "A channel name is 1 to 64 characters of letters, digits, '.', '_' and '-'"
    await expect(viewer.page.locator("#c-error")).to_contain_text(rule)
    assert rule in await viewer.page.locator("#c-target").evaluate("el => el.validationMessage")
    assert list((relay.data_dir / "channels").glob("*.jsonl")) == []
    await viewer.page.fill("#c-target", "good-name")
    await viewer.page.click("#c-send")
    await viewer.page.wait_for_url(f"{relay.base}/channels/good-name")
    assert [m["text"] for m in relay.stored("good-name")] == ["hello"]


async def test_the_header_stays_compact(relay: Relay, viewer: Viewer, width: int) -> None:
    await viewer.page.goto(f"{relay.base}/channels/a-rather-long-channel-name-for-a-phone")
    boxes = {}
    for name in (".brand", ".crumbs", "#notify-toggle", "#theme-toggle", ".search-box"):
        box = await viewer.page.locator(f"header.top {name}").bounding_box()
        assert box is not None, name
        boxes[name] = box
    row = boxes[".brand"]["y"] + boxes[".brand"]["height"] / 2
    for name in (".crumbs", "#notify-toggle", "#theme-toggle"):  # one row for these
        assert boxes[name]["y"] <= row <= boxes[name]["y"] + boxes[name]["height"], name
    header = await viewer.page.locator("header.top").bounding_box()
    assert header is not None
    assert header["height"] <= (110 if width < 600 else 70)  # at most two rows: the search goes below
    assert await viewer.page.evaluate("document.documentElement.scrollWidth") <= width


async def test_the_footer_api_link_opens_readable_docs(relay: Relay, viewer: Viewer) -> None:
    await viewer.page.goto(f"{relay.base}/")
    await viewer.page.click("footer a:has-text('API')")
    await viewer.page.wait_for_url(f"{relay.base}/api")
    await expect(viewer.page.locator("h1")).to_have_text("HTTP API")
    await expect(viewer.page.locator("#get--api-search h2")).to_have_text("GET /api/search")
    await expect(viewer.page.locator("#post--api-messages")).to_contain_text("reply_to")


# --- search, threads, receipts and presence, unread, notifications -------------------------------


async def test_the_search_box_finds_a_message_in_any_channel(relay: Relay, viewer: Viewer) -> None:
    post(relay, "proj-x", "the login limiter needs a key", sender="codex")
    post(relay, "other", "lunch?", sender="alice")
    post(relay, "other", "LIMITER approved", sender="claude")
    await viewer.page.goto(f"{relay.base}/")
    await viewer.page.fill("#search-q", "limiter")
    await viewer.page.press("#search-q", "Enter")
    await viewer.page.wait_for_url(f"{relay.base}/search?q=limiter")
    await expect(viewer.page.locator("#search-summary")).to_contain_text("2 messages holding every word")
    results = viewer.page.locator("#search-results article")
    assert [await results.nth(i).locator(".msg-body").inner_text() for i in range(2)] == [
        "LIMITER approved",
        "the login limiter needs a key",
    ]
    await viewer.page.select_option("#s-target", "proj-x")
    await viewer.page.click(".search-page-form button")
    await expect(results).to_have_count(1)
    await results.first.locator(".msg-channel").click()
    await viewer.page.wait_for_url(f"{relay.base}/channels/proj-x#m-1")
    await expect(viewer.page.locator("#m-1")).to_be_visible()
    assert viewer.problems == [] and viewer.offline.outside == []


async def test_a_reply_from_the_composer_and_the_thread_page(relay: Relay, viewer: Viewer) -> None:
    post(relay, "proj-x", "packet v1", sender="claude")
    post(relay, "proj-x", "unrelated", sender="alice")
    page = viewer.page
    await page.goto(f"{relay.base}/channels/proj-x")
    await expect(page.locator("#m-1 .msg-thread")).to_be_hidden()
    await page.click("#m-1 .msg-reply-btn")
    await expect(page.locator("#c-replying")).to_contain_text("Replying to #1")
    await page.fill("#c-text", "verdict: changes")
    await page.press("#c-text", "Control+Enter")
    await expect(page.locator("#m-3 .msg-reply")).to_have_text("\u21aa #1")
    assert relay.stored("proj-x")[2]["reply_to"] == 1
    await expect(page.locator("#c-replying")).to_be_hidden()  # a one-off reply on the channel page
    await expect(page.locator("#m-1 .msg-thread")).to_be_visible()
    await page.click("#m-1 .msg-thread")
    await page.wait_for_url(f"{relay.base}/channels/proj-x/threads/1")
    ids = "els => els.map(e => Number(e.dataset.id))"
    assert await page.locator("article.msg").evaluate_all(ids) == [1, 3]
    await expect(page.locator("#c-replying")).to_contain_text("Replying to #3")
    await page.fill("#c-text", "packet v2")
    await page.press("#c-text", "Control+Enter")
    await expect(page.locator("#m-4")).to_be_visible()
    await expect(page.locator("#c-replying")).to_contain_text("Replying to #4")  # the thread goes on
    post(relay, "proj-x", "not in the thread", sender="alice")
    post(relay, "proj-x", "approve", sender="codex", reply_to=4)
    await expect(page.locator("#m-6")).to_be_visible()
    assert await page.locator("article.msg").evaluate_all(ids) == [1, 3, 4, 6]
    assert [(m["id"], m.get("reply_to")) for m in relay.stored("proj-x")] == [
        (1, None),
        (2, None),
        (3, 1),
        (4, 3),
        (5, None),
        (6, 4),
    ]
    assert viewer.problems == []


WAITER = (
    "import sys; from shared.config import resolve_config; from shared.relay import Relay; "
    "from shared.waiting import wait_for_messages_sync; "
    "relay = Relay(resolve_config({'data_dir': sys.argv[1]}, env={})); "
    "wait_for_messages_sync(relay, 'proj-x', identity='codex', since_id=3, timeout_s=120)"
)


async def test_read_receipts_and_who_is_active(relay: Relay, viewer: Viewer) -> None:
    for text in ("packet", "note", "question"):
        post(relay, "proj-x", text, sender="claude")
    agents = shared_relay(relay)
    agents.fetch("proj-x", identity="codex", limit=2)  # codex has read #1 and #2
    page = viewer.page
    await page.goto(f"{relay.base}/channels/proj-x")
    await expect(page.locator("#m-1 .msg-receipts")).to_have_text("Read by codex")
    await expect(page.locator("#m-2 .msg-receipts")).to_have_text("Read by codex")
    await expect(page.locator("#m-3 .msg-receipts")).to_be_hidden()
    claude = page.locator('#presence li[data-identity="claude"]')
    await expect(claude).to_contain_text("posted #3")
    await expect(page.locator('#presence li[data-identity="codex"]')).to_contain_text("read to #2")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    waiter = subprocess.Popen([sys.executable, "-c", WAITER, str(relay.data_dir)], env=env)
    try:
        codex = page.locator('#presence li[data-identity="codex"]')
        await expect(codex.locator(".waiting")).to_have_text(" waiting now", timeout=30_000)
        agents.fetch("proj-x", identity="alice")
        await expect(page.locator("#m-3 .msg-receipts")).to_have_text("Read by alice")
        await expect(page.locator("#m-1 .msg-receipts")).to_have_text("Read by codex, alice", timeout=10_000)
    finally:
        waiter.send_signal(signal.SIGKILL)
        waiter.wait(30)
    await expect(page.locator('#presence li[data-identity="codex"] .waiting')).to_have_count(0)
    assert viewer.problems == []


async def test_unread_counts_on_the_list_and_a_marker_in_the_channel(relay: Relay, viewer: Viewer) -> None:
    post(relay, "proj-x", "seen before")
    page = viewer.page
    await page.goto(f"{relay.base}/channels/proj-x")
    await expect(page.locator("#m-1")).to_be_visible()
    await expect(page.locator("#unread-marker")).to_have_count(0)  # a first visit
    await page.goto(f"{relay.base}/")
    badge = page.locator('tr[data-target="proj-x"] .unread')
    await expect(badge).to_be_hidden()
    post(relay, "proj-x", "new one")
    post(relay, "proj-x", "new two")
    await expect(badge).to_have_text("2 new")  # after the list's next poll
    await expect(page.locator('tr[data-target="codex"] .unread')).to_be_hidden()
    await page.click('a[href="/channels/proj-x"]')
    marker = page.locator("#unread-marker")
    await expect(marker).to_have_text("New since you last looked")
    following = "el => el.nextElementSibling.dataset.id"
    assert await marker.evaluate(following) == "2"
    await page.goto(f"{relay.base}/")
    await expect(badge).to_be_hidden()
    assert viewer.problems == []


NOTIFICATION_RECORDER = """
(() => {
  const Real = window.Notification;
  window.__notes = [];
  class Recorded extends Real {
    constructor(title, options) { super(title, options); window.__notes.push([title, options.body]); }
  }
  Object.defineProperty(Recorded, "permission", { get: () => Real.permission });
  Recorded.requestPermission = (...args) => Real.requestPermission(...args);
  window.Notification = Recorded;
})();
"""


async def test_desktop_notifications_are_opt_in_and_name_the_sender(
    relay: Relay, browser: Browser, width: int
) -> None:
    context = await browser.new_context(
        viewport={"width": width, "height": 800}, permissions=["notifications"]
    )
    await context.add_init_script(NOTIFICATION_RECORDER)
    page = await context.new_page()
    await page.goto(f"{relay.base}/channels/proj-x")
    toggle = page.locator("#notify-toggle")
    await expect(toggle).to_have_text("Notify: off")
    hide = """() => {
        Object.defineProperty(document, "hidden", { value: true, configurable: true });
        document.dispatchEvent(new Event("visibilitychange"));
    }"""
    await page.evaluate(hide)
    post(relay, "proj-x", "before opting in", sender="codex")
    await expect(page.locator("#m-1")).to_be_attached()
    assert await page.evaluate("window.__notes") == []  # not opted in: no notification
    await toggle.click()
    await expect(toggle).to_have_text("Notify: on")
    await expect(toggle).to_have_attribute("aria-pressed", "true")
    post(relay, "proj-x", "Review **done**: approve", sender="codex")
    await expect(page.locator("#m-2")).to_be_attached(timeout=15_000)
    await page.wait_for_function("window.__notes.length === 1")
    assert await page.evaluate("window.__notes") == [["codex in proj-x", "Review **done**: approve"]]
    await page.reload()
    await expect(toggle).to_have_text("Notify: on")  # the choice is remembered
    await context.close()


# --- accessibility -----------------------------------------------------------------------------


async def test_keyboard_only_posting(relay: Relay, viewer: Viewer) -> None:
    page = viewer.page
    await page.goto(f"{relay.base}/channels/proj-x")
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.className") == "skip"
    await page.keyboard.press("Enter")
    for _ in range(6):
        await page.keyboard.press("Tab")
        if await page.evaluate("document.activeElement.id") == "c-text":
            break
    assert await page.evaluate("document.activeElement.id") == "c-text"
    await page.keyboard.type("typed without a mouse")
    await page.keyboard.press("Control+Enter")
    await expect(page.locator("#m-1 .msg-body")).to_have_text("typed without a mouse")
    await page.keyboard.press("Shift+Tab")  # back through the composer to the message's Reply button
    for _ in range(8):
        if await page.evaluate("document.activeElement.classList.contains('msg-reply-btn')"):
            break
        await page.keyboard.press("Shift+Tab")
    await page.keyboard.press("Enter")
    assert await page.evaluate("document.activeElement.id") == "c-text"
    await page.keyboard.type("a reply, by keyboard")
    await page.keyboard.press("Control+Enter")
    await expect(page.locator("#m-2 .msg-reply")).to_have_text("\u21aa #1")
    assert [(m["text"], m.get("reply_to")) for m in relay.stored("proj-x")] == [
        ("typed without a mouse", None),
        ("a reply, by keyboard", 1),
    ]


async def axe_violations(page: Page) -> list[dict[str, object]]:
    await page.add_script_tag(path=str(AXE))
    result = await page.evaluate("async () => (await axe.run(document)).violations")
    return [v for v in result if v["impact"] in ("serious", "critical")]


def describe(violations: list[dict[str, object]]) -> str:
    return json.dumps(
        [{"id": v["id"], "nodes": [n["target"] for n in v["nodes"]][:5]} for v in violations],  # type: ignore[attr-defined]
        indent=1,
    )


@pytest.mark.parametrize("theme", ["light", "dark"])
async def test_axe_finds_no_serious_or_critical_violations(
    browser: Browser,
    tmp_path: Path,
    width: int,
    theme: str,
) -> None:
    if not AXE.exists():
        pytest.fail(f"axe-core is missing at {AXE}: run scripts/test.sh (npm ci in tests/e2e/node)")
    token = "tok-" + "y" * 40
    for locked in start(tmp_path, CLAUDE_CODEX_AUTH_TOKEN=token):
        store = FileStore(locked.data_dir)
        store.append("proj-x", "claude", "Review packet\n\n```diff\n-a\n+b\n```", source="mcp")
        store.append("proj-x", "codex", "Verdict: **approve**", source="mcp", reply_to=1)
        context = await browser.new_context(
            viewport={"width": width, "height": 800}, bypass_csp=True, color_scheme=theme
        )
        page = await context.new_page()
        await page.goto(f"{locked.base}/login")
        assert (bad := await axe_violations(page)) == [], "login: " + describe(bad)
        await page.fill('input[name="token"]', token)
        await page.click('button[type="submit"]')
        for path in ("/", "/channels/proj-x", "/channels/proj-x/threads/2", "/search?q=verdict", "/api"):
            await page.goto(f"{locked.base}{path}")
            await page.wait_for_load_state("networkidle")
            assert (bad := await axe_violations(page)) == [], f"{path}: " + describe(bad)
        await context.close()
