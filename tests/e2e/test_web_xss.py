"""Stored XSS: every payload of tests/data/xss_payloads.txt, posted through the HTTP API and through a
real relay-stdio, then shown by a real relay-web in Debian's Chromium, live and after a reload.

Payloads try to set ``window.__pwned`` or open a dialog. For every page the test checks: no dialog, no
page error, ``window.__pwned`` undefined, no frame, no element or attribute that can run or load
anything inside a message (or a sender), only http(s)/mailto links, no request but the viewer's own,
no template evaluated (``7*191`` never shows as 1337), and no Content-Security-Policy violation at all:
the sanitiser must remove what the CSP would have blocked.
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from mcp import Client, StdioServerParameters
from playwright.async_api import Browser, Page, Route

from shared.models import DEFAULT_MAX_MESSAGE_BYTES
from tests.e2e.browser import launched_chromium
from tests.e2e.conftest import child_env, relay_stdio_command
from tests.e2e.web_server import running_relay_web
from tests.reliability import count

pytestmark = [pytest.mark.anyio, pytest.mark.e2e, pytest.mark.slow]

CORPUS = Path(__file__).resolve().parents[1] / "data" / "xss_payloads.txt"
PER_CHANNEL = 40  # a channel page opens with the latest 50 messages
# The viewer's own requests; anything else (an injected <img src=x>, a stylesheet) is a finding.
OWN_REQUEST = re.compile(
    r"/(|channels/[a-z0-9._-]+|static/(relay\.js|theme\.js|relay\.css|favicon\.svg)|assets/pygments\.css"
    r"|ui/channels/[a-z0-9._-]+/updates\?since_id=\d+|api/channels|ui/channels"
    r"|api/presence\?target=[a-z0-9._-]+)"
)
INSPECT = """(scope) => {
  const found = [];
  const dangerous = 'script,iframe,frame,frameset,object,embed,applet,portal,svg,math,img,image,video,'
    + 'audio,source,track,picture,canvas,form,input,button,textarea,select,option,keygen,isindex,style,'
    + 'link,meta,base,template,noscript,noembed,noframes,xmp,plaintext,details,dialog,marquee,title,use';
  const roots = document.querySelectorAll(scope);
  for (const root of roots) {
    for (const el of root.querySelectorAll(dangerous)) {
      found.push('element <' + el.tagName.toLowerCase() + '>');
    }
    for (const el of root.querySelectorAll('*')) {
      for (const attr of el.attributes) {
        const name = attr.name.toLowerCase();
        if (name.startsWith('on')) found.push('handler ' + name + '=' + attr.value);
        if (['style', 'src', 'srcdoc', 'action', 'formaction', 'xlink:href', 'data', 'background',
             'poster', 'lowsrc', 'dynsrc', 'id', 'name', 'autofocus', 'contenteditable'].includes(name))
          found.push('attribute ' + name + '=' + attr.value);
        if (name === 'href') {
          const link = attr.value.replace(/[\\u0000-\\u0020\\u007f-\\u00a0]/g, '').toLowerCase();
          if (!/^(https?:\\/\\/|mailto:)/.test(link)) found.push('link ' + attr.value);
        }
      }
    }
    if (root.textContent.includes('1337')) found.push('template evaluated: ' + root.textContent.slice(0, 80));
  }
  const own = ['/static/theme.js', '/static/relay.js'];
  const scripts = [...document.scripts].map(s => s.getAttribute('src'));
  if (JSON.stringify(scripts) !== JSON.stringify(own)) found.push('scripts ' + JSON.stringify(scripts));
  const framesEtc = document.querySelectorAll(
    'iframe,frame,object,embed,base,meta[http-equiv],link:not([rel=stylesheet]):not([rel=icon])');
  if (framesEtc.length) found.push('page-level ' + framesEtc[0].outerHTML.slice(0, 120));
  if (window.frames.length) found.push('frames ' + window.frames.length);
  if (typeof window.__pwned !== 'undefined') found.push('window.__pwned = ' + String(window.__pwned));
  if (window.__csp.length) found.push('CSP violations ' + JSON.stringify(window.__csp.slice(0, 3)));
  return {found, checked: roots.length};
}"""
RECORD_CSP = """window.__csp = [];
document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(
  {directive: e.effectiveDirective, blocked: e.blockedURI, sample: e.sample, disposition: e.disposition}));"""


def load_corpus() -> list[str]:
    payloads = []
    for line in CORPUS.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#:"):
            payloads.append(line.replace("{NL}", "\n").replace("{TAB}", "\t"))
    return payloads


def generated() -> list[str]:
    """Very long payloads, each under the default message limit."""
    big = [
        "<script>window.__pwned=1</script>" * 7000,
        "<img src=x onerror=window.__pwned=1>" * 6000,
        "[x](javascript:window.__pwned=1) " * 7000,
        "<div>" * 40_000 + "<img src=x onerror=window.__pwned=1>",
        "[" * 100_000 + "](javascript:window.__pwned=1)",
        "<a href='javascript:window.__pwned=1'>" + "x" * 200_000,
        "`" * 5000 + "<script>window.__pwned=1</script>" + "`" * 5000,
        "> " * 5000 + "<iframe srcdoc='<script>parent.__pwned=1</script>'>",
        "  * " * 2000 + "<svg onload=window.__pwned=1>",
        "\u202e" * 1000 + "[x](javascript:window.__pwned=1)" + "\u200b" * 1000,
    ]
    assert all(len(p.encode()) <= DEFAULT_MAX_MESSAGE_BYTES for p in big)
    return big


PAYLOADS = load_corpus() + generated()


def post_http(base: str, target: str, text: str, sender: str = "xss") -> bool:
    """Post through the API: True when stored, False when refused with a clear 400."""
    body = json.dumps({"target": target, "sender": sender, "text": text}).encode()
    request = urllib.request.Request(
        f"{base}/api/messages", data=body, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return bool(response.status == 201)
    except urllib.error.HTTPError as error:
        with error:
            answer = json.loads(error.read())
        assert error.code == 400 and answer["ok"] is False and answer["error"], answer
        return False


class Viewer:
    """One Chromium page on the relay, recording everything a payload could make it do."""

    def __init__(self, page: Page, base: str) -> None:
        self.page = page
        self.base = base
        self.problems: list[str] = []
        self.requests: list[str] = []
        page.on("dialog", self._on_dialog)
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        page.on("console", self._on_console)

    async def _on_dialog(self, dialog) -> None:  # type: ignore[no-untyped-def]
        self.problems.append(f"dialog: {dialog.message}")
        await dialog.dismiss()

    def _on_console(self, message) -> None:  # type: ignore[no-untyped-def]
        if message.type in ("error", "warning"):
            self.problems.append(f"console {message.type}: {message.text}")

    async def route(self, route: Route) -> None:
        url = route.request.url
        self.requests.append(url)
        if urlsplit(url).hostname in ("127.0.0.1", "localhost"):
            await route.continue_()
        else:
            await route.abort()

    async def inspect(self, scope: str) -> int:
        """Move over the page (hover handlers), then run every check; returns the elements checked."""
        for y in range(0, 700, 70):
            await self.page.mouse.move(500, y)
        report = await self.page.evaluate(INSPECT, scope)
        assert report["found"] == [], report["found"][:10]
        assert self.problems == [], self.problems[:10]
        strange = [u for u in self.requests if not OWN_REQUEST.fullmatch(u.removeprefix(self.base))]
        assert strange == [], strange[:10]
        return int(report["checked"])


@pytest.fixture
def relay_web(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    data_dir = tmp_path / "store"
    with running_relay_web(tmp_path / "home", data_dir) as (base, _):
        yield base, data_dir


@pytest.fixture
async def viewer(relay_web: tuple[str, Path]) -> AsyncIterator[Viewer]:
    base, _ = relay_web
    async with launched_chromium() as browser:
        yield await open_viewer(browser, base)


async def open_viewer(browser: Browser, base: str) -> Viewer:
    context = await browser.new_context(viewport={"width": 1000, "height": 700})
    await context.add_init_script(RECORD_CSP)
    viewer = Viewer(await context.new_page(), base)
    await context.route("**/*", viewer.route)
    return viewer


def chunks(items: list[str]) -> list[list[str]]:
    return [items[i : i + PER_CHANNEL] for i in range(0, len(items), PER_CHANNEL)]


async def show_and_check(viewer: Viewer, channel: str, post, payloads: list[str]) -> int:  # type: ignore[no-untyped-def]
    """Open the channel, post the payloads so they arrive live, check; reload, check again."""
    await viewer.page.goto(f"{viewer.base}/channels/{channel}")
    stored = [await post(channel, text) for text in payloads]
    articles = viewer.page.locator("#message-list article.msg")
    shown = sum(stored)
    await articles.nth(shown - 1).wait_for(timeout=120_000)
    assert await articles.count() == shown
    checked = await viewer.inspect("#message-list .msg-body, #message-list .msg-sender")
    await viewer.page.reload()
    await articles.nth(shown - 1).wait_for(timeout=120_000)
    checked += await viewer.inspect("#message-list .msg-body, #message-list .msg-sender")
    await check_raw_html_is_shown_as_typed(viewer, payloads, stored)
    count("viewer.xss_messages_checked", 2 * shown)
    return checked


async def check_raw_html_is_shown_as_typed(viewer: Viewer, payloads: list[str], stored: list[bool]) -> None:
    """A one-line payload made of raw HTML only shows as the characters its author typed."""
    kept = [text for text, ok in zip(payloads, stored, strict=True) if ok]
    bodies = await viewer.page.locator("#message-list .msg-body").all_inner_texts()
    for text, body in zip(kept, bodies, strict=True):
        if re.fullmatch(r"<script>[^`\\*_\[\]&]*</script>", text):
            assert text in body, (text, body)


async def test_every_payload_posted_through_the_api_is_inert(
    viewer: Viewer, relay_web: tuple[str, Path]
) -> None:
    base, data_dir = relay_web

    async def post(channel: str, text: str) -> bool:
        return post_http(base, channel, text)

    checked = 0
    for k, part in enumerate(chunks(PAYLOADS)):
        checked += await show_and_check(viewer, f"xss-api-{k}", post, part)
    assert checked >= 2 * len(PAYLOADS)
    stored = sum(len((p).read_text().splitlines()) for p in (data_dir / "channels").glob("xss-api-*.jsonl"))
    assert stored == len(PAYLOADS)  # every payload is valid text: none was refused, so all are shown
    count("viewer.xss_payloads", len(PAYLOADS))
    count("viewer.xss_payloads_via_api", len(PAYLOADS))


async def test_every_payload_posted_through_a_real_relay_stdio_is_inert(
    viewer: Viewer, relay_web: tuple[str, Path], tmp_path: Path
) -> None:
    _, data_dir = relay_web
    command = relay_stdio_command()
    server = StdioServerParameters(
        command=command[0],
        args=[*command[1:], "--data-dir", str(data_dir), "--sender", "<img src=x onerror=alert(1)>"],
        env=child_env(tmp_path),
    )
    async with Client(server) as client:

        async def post(channel: str, text: str) -> bool:
            result = await client.call_tool("post_message", {"target": channel, "text": text})
            assert not result.is_error, result.content
            return True

        for k, part in enumerate(chunks(PAYLOADS)):
            await show_and_check(viewer, f"xss-mcp-{k}", post, part)
    count("viewer.xss_payloads_via_mcp", len(PAYLOADS))


def short_payloads() -> list[str]:
    """The payloads a sender name can hold: one line, at most 64 characters, no control characters."""
    return [
        p.strip()
        for p in load_corpus()
        if p.strip() and len(p.strip()) <= 64 and not re.search(r"[\x00-\x1f\x7f-\x9f]", p.strip())
    ]


async def test_hostile_senders_are_inert_in_the_channel_and_the_channel_list(
    viewer: Viewer, relay_web: tuple[str, Path]
) -> None:
    base, _ = relay_web
    senders = short_payloads()
    assert len(senders) > 80
    for k, sender in enumerate(senders):
        assert post_http(base, f"xss-s-{k}", "hello", sender=sender)
        assert post_http(base, "xss-senders", f"from sender {k}", sender=sender)
    await viewer.page.goto(f"{base}/")
    rows = viewer.page.locator("#channel-rows tr")
    await rows.nth(len(senders)).wait_for()
    await viewer.inspect("#channel-rows td:nth-child(3)")
    shown = await viewer.page.locator("#channel-rows td:nth-child(3)").all_inner_texts()
    assert set(senders) <= {s.strip() for s in shown}  # shown as typed, as text
    assert post_http(base, "xss-s-live", "hello", sender=senders[0])  # the list's live refresh
    await viewer.page.locator('#channel-rows tr[data-target="xss-s-live"]').wait_for()
    await viewer.inspect("#channel-rows td:nth-child(3)")
    articles = viewer.page.locator("#message-list article.msg")
    await viewer.page.goto(f"{base}/channels/xss-senders")
    await articles.nth(min(len(senders), 50) - 1).wait_for()
    await viewer.inspect("#message-list .msg-sender, #message-list .msg-body")
    count("viewer.xss_sender_payloads", len(senders))
