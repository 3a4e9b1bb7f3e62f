"""Attacks on a real relay-web: DNS rebinding on every route, and cross-site writes from a real page.

DNS rebinding is tried over raw HTTP (a rebinding browser sends exactly these requests, with the
attacker's name as ``Host``). Cross-site writes come from a page on another origin
(``http://localhost:<port2>`` against the relay at ``http://127.0.0.1:<port1>``) open in Debian's
Chromium: auto-submitted forms of every encoding, ``fetch`` in every mode, ``sendBeacon`` and XHR;
then from a raw client with a missing, foreign or ``null`` ``Origin``. Each time the channel files
must be untouched and every refusal a JSON error that says why.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Response

from relay_web import create_app
from relay_web.security import CSRF_HEADER
from shared.config import resolve_config
from tests.e2e.browser import launched_chromium
from tests.e2e.web_server import running_relay_web, serving_pages
from tests.reliability import count

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SECRET = "a message only the relay's own reader may see"
TOKEN = "attack-test-token-" + "z" * 24


class Relay:
    """A running relay-web, its store, and raw HTTP to it."""

    def __init__(self, base: str, data_dir: Path) -> None:
        self.base = base
        self.data_dir = data_dir
        host, port = base.removeprefix("http://").rsplit(":", 1)
        self.host, self.port = host, int(port)

    def request(
        self, method: str, target: str, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> tuple[int, dict[str, str], bytes]:
        """One request, sent exactly as given (``Host`` too: a ``None`` value leaves a header out)."""
        sent = {"Host": f"{self.host}:{self.port}", "Connection": "close", **(headers or {})}
        if body or method == "POST":
            sent.setdefault("Content-Length", str(len(body)))
        head = f"{method} {target} HTTP/1.1\r\n" + "".join(
            f"{name}: {value}\r\n" for name, value in sent.items() if value is not None
        )
        with socket.create_connection((self.host, self.port), timeout=30) as sock:
            sock.sendall(head.encode("latin-1") + b"\r\n" + body)
            raw = b""
            while chunk := sock.recv(65536):
                raw += chunk
        header, _, content = raw.partition(b"\r\n\r\n")
        lines = header.decode("latin-1").split("\r\n")
        fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        return int(lines[0].split()[1]), fields, content

    def post_json(self, text: str) -> None:
        body = json.dumps({"target": "proj-x", "sender": "owner", "text": text}).encode()
        status, _, answer = self.request("POST", "/api/messages", {"Content-Type": "application/json"}, body)
        assert status == 201, answer

    def csrf_token(self) -> str:
        _, _, page = self.request("GET", "/channels/proj-x")
        found = re.search(rb'<meta name="csrf-token" content="([0-9a-f]+)">', page)
        assert found, page[:500]
        return found.group(1).decode()

    def store_state(self) -> dict[str, str]:
        """Every file of the store but the logs -> its SHA-256: "touches nothing" is this unchanged."""
        state = {}
        for path in sorted(self.data_dir.rglob("*")):
            if path.is_file() and "log" not in path.relative_to(self.data_dir).parts:
                state[str(path.relative_to(self.data_dir))] = hashlib.sha256(path.read_bytes()).hexdigest()
        return state

    def texts(self) -> list[str]:
        channel = self.data_dir / "channels" / "proj-x.jsonl"
        return [json.loads(line)["text"] for line in channel.read_text().splitlines()]


def start(tmp_path: Path, *args: str, **env: str) -> Iterator[Relay]:
    data_dir = tmp_path / "store"
    with running_relay_web(tmp_path / "home", data_dir, *args, **env) as (base, _):
        relay = Relay(base, data_dir)
        relay.post_json(SECRET)
        yield relay


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[Relay]:
    yield from start(tmp_path)


@pytest.fixture
def locked_relay(tmp_path: Path) -> Iterator[Relay]:
    """A relay with ``auth_token``: the owner posts and reads with the Bearer token."""
    data_dir = tmp_path / "store"
    with running_relay_web(tmp_path / "home", data_dir, CLAUDE_CODEX_AUTH_TOKEN=TOKEN) as (base, _):
        relay = Relay(base, data_dir)
        body = json.dumps({"target": "proj-x", "sender": "owner", "text": SECRET}).encode()
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"}
        assert relay.request("POST", "/api/messages", headers, body)[0] == 201
        yield relay


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with launched_chromium() as launched:
        yield launched


# --- DNS rebinding ------------------------------------------------------------------------------


def every_route() -> list[tuple[str, str]]:
    """(method, URL) for every rule of the app and every method it answers, plus POST everywhere."""
    app = create_app(resolve_config({"data_dir": "/nonexistent/never-created"}, env={}))
    found = set()
    for rule in app.url_map.iter_rules():
        url = rule.rule.replace("<target>", "proj-x").replace("<path:filename>", "relay.js")
        if "older" in url:
            url += "?before_id=5"
        elif "updates" in url:
            url += "?since_id=0"
        elif url == "/api/messages":
            url += "?target=proj-x"
        found |= {(method, url) for method in (rule.methods or set()) | {"POST", "PUT", "DELETE"}}
    return sorted(found)


def foreign_hosts(port: int) -> list[str | None]:
    return [
        "evil.example",
        f"evil.example:{port}",
        "localhost.evil.example",
        f"127.0.0.1.nip.io:{port}",
        f"LOCALHOST.evil.example:{port}",
        "localhost@evil.example",
        f"evil.example#@127.0.0.1:{port}",
        f"127.0.0.1:{port}.evil.example",
        "attacker.test:80",
        "0.0.0.0",
        "127.0.0.2",
        "[::2]",
        f"[::ffff:127.0.0.1]:{port}",
        "2130706433",
        "localhost:*",
        "",
        None,  # no Host header at all
    ]


def test_a_foreign_host_gets_403_on_every_route_and_touches_nothing(relay: Relay) -> None:
    token = relay.csrf_token()
    before = relay.store_state()
    routes = every_route()
    assert len(routes) >= 40
    refused = 0
    for host in foreign_hosts(relay.port):
        for method, url in routes:
            headers = {"Host": host, "Content-Type": "application/json", "Origin": relay.base}
            headers[CSRF_HEADER] = token  # even with the page's token: the Host alone refuses it
            body = json.dumps({"target": "proj-x", "sender": "rebinder", "text": "rebound"}).encode()
            status, fields, answer = relay.request(method, url, headers, body if method == "POST" else b"")
            count("viewer.rebinding_requests")
            where = (host, method, url, status, answer[:200])
            assert status == 403, where
            refused += 1
            text = answer.decode("utf-8", "replace")
            assert SECRET not in text and token not in text and str(relay.data_dir) not in text, where
            if method == "HEAD":
                continue
            assert "not allowed" in text and "allowed_hosts" in text, where
            if url.startswith(("/api/", "/ui/", "/healthz", "/openapi.json")):
                assert fields["content-type"].startswith("application/json"), where
                assert json.loads(answer)["ok"] is False
    assert relay.store_state() == before
    assert relay.texts() == [SECRET]
    count("viewer.rebinding_refused", refused)


def test_two_host_headers_are_refused(relay: Relay) -> None:
    """A request smuggling a second Host must not pass on the good one."""
    for first, second in (("evil.example", "127.0.0.1"), ("127.0.0.1", "evil.example")):
        head = (
            f"GET /api/messages?target=proj-x HTTP/1.1\r\nHost: {first}\r\nHost: {second}\r\n"
            "Connection: close\r\n\r\n"
        )
        with socket.create_connection((relay.host, relay.port), timeout=30) as sock:
            sock.sendall(head.encode())
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        count("viewer.rebinding_requests")
        assert answer.split()[1] == b"403", answer[:300]
        assert SECRET.encode() not in answer


# --- cross-site writes ----------------------------------------------------------------------------

FORM_TARGETS = ["/api/messages", "/channels/proj-x", "/", "/login", "/ui/channels/proj-x/updates"]
ENCTYPES = ["application/x-www-form-urlencoded", "multipart/form-data", "text/plain"]


def attack_page(relay: str) -> str:
    """A hostile page: forms auto-submitted into frames, then every script way to POST a message."""
    forms = []
    for i, (path, enctype) in enumerate((p, e) for p in FORM_TARGETS for e in ENCTYPES):
        # text/plain sends "name=value": a name ending in a JSON string makes the body valid JSON.
        forms.append(
            f'<iframe name="f{i}"></iframe>'
            f'<form action="{relay}{path}" method="post" enctype="{enctype}" target="f{i}">'
            '<input name=\'{"target":"proj-x","sender":"evil","text":"form '
            f'{enctype} {path}","x":"\' value=\'"}}\'>'
            '<input name="target" value="proj-x"><input name="sender" value="evil">'
            f'<input name="text" value="form {enctype} {path}"><input name="token" value="guess"></form>'
        )
    return f"""<!doctype html><html><head><title>cute cats</title></head><body>
{"".join(forms)}
<script>
const R = "{relay}/api/messages";
const body = (how) => JSON.stringify({{target: "proj-x", sender: "evil", text: how}});
window.results = {{}};
async function attempt(name, fn) {{
  try {{ results[name] = "resolved " + String(await fn()); }} catch (e) {{ results[name] = "refused " + e; }}
}}
async function attack() {{
  for (const form of document.forms) form.submit();
  await attempt("fetch no-cors text/plain", () => fetch(R, {{method: "POST", mode: "no-cors",
      headers: {{"Content-Type": "text/plain"}}, body: body("fetch no-cors")}}).then(r => r.type));
  await attempt("fetch no-cors with cookies", () => fetch(R, {{method: "POST", mode: "no-cors",
      credentials: "include", body: body("fetch no-cors cookies")}}).then(r => r.type));
  await attempt("fetch cors text/plain", () => fetch(R, {{method: "POST", mode: "cors",
      headers: {{"Content-Type": "text/plain"}}, body: body("fetch cors plain")}}).then(r => r.status));
  await attempt("fetch json (preflight)", () => fetch(R, {{method: "POST", credentials: "include",
      headers: {{"Content-Type": "application/json"}}, body: body("fetch json")}}).then(r => r.status));
  await attempt("fetch with a guessed CSRF header", () => fetch(R, {{method: "POST",
      headers: {{"Content-Type": "application/json", "X-CSRF-Token": "guess"}},
      body: body("fetch csrf")}}).then(r => r.status));
  await attempt("fetch urlencoded", () => fetch(R, {{method: "POST", mode: "no-cors",
      body: new URLSearchParams({{target: "proj-x", sender: "evil", text: "fetch urlencoded"}})}})
      .then(r => r.type));
  await attempt("beacon text/plain", () => navigator.sendBeacon(R,
      new Blob([body("beacon plain")], {{type: "text/plain"}})));
  await attempt("beacon string", () => navigator.sendBeacon(R, body("beacon string")));
  await attempt("beacon json", () => navigator.sendBeacon(R,
      new Blob([body("beacon json")], {{type: "application/json"}})));
  await attempt("xhr text/plain", () => new Promise((ok, no) => {{
      const x = new XMLHttpRequest(); x.open("POST", R); x.withCredentials = true;
      x.setRequestHeader("Content-Type", "text/plain");
      x.onload = () => ok(x.status); x.onerror = () => no("network error"); x.send(body("xhr"));
  }}));
  results.done = true;
}}
attack();
</script></body></html>"""


# Script posts that need no CORS preflight (sent, refused by the relay), and those that do (a JSON
# body or a custom header: the preflight gets no CORS grant, so the browser never sends the POST).
SIMPLE_SCRIPT_POSTS = 7
PREFLIGHTED_POSTS = 3


class RelayTraffic:
    """Every request the browser sent the relay and every answer. Script requests come from
    Chromium's own network log (DevTools protocol), which also sees answers the browser then hid
    from the page; form posts load in frames, which Chromium may move to another process, so
    Playwright (which follows every frame) reports those."""

    def __init__(self, relay: Relay) -> None:
        self.relay = relay
        self.frames: list[tuple[str, str, str, int | None, dict[str, str]]] = []
        self.sent: dict[str, list[tuple[str, str, str]]] = {}
        self.answers: dict[str, list[tuple[int, dict[str, str]]]] = {}
        self.ended: dict[str, str] = {}
        self.preflight_failed: set[str] = set()

    def on_frame_answer(self, response: Response) -> None:
        request = response.request
        if request.resource_type == "document" and response.url.startswith(self.relay.base):
            kind = request.headers.get("content-type", "")
            self.frames.append((request.method, response.url, kind, response.status, response.headers))

    def on_sent(self, event: dict) -> None:  # type: ignore[type-arg]
        request = event["request"]
        if request["url"].startswith(self.relay.base) and event.get("type") != "Document":
            kind = request.get("headers", {}).get("Content-Type", "")
            self.sent.setdefault(event["requestId"], []).append((request["method"], request["url"], kind))

    def on_answer(self, event: dict) -> None:  # type: ignore[type-arg]
        headers = {name.lower(): value for name, value in event["headers"].items()}
        self.answers.setdefault(event["requestId"], []).append((event["statusCode"], headers))

    def on_end(self, event: dict) -> None:  # type: ignore[type-arg]
        self.ended[event["requestId"]] = event.get("errorText", "finished")
        if (event.get("corsErrorStatus") or {}).get("corsError", "").startswith("Preflight"):
            self.preflight_failed.add(event["requestId"])

    def exchanges(self) -> list[tuple[str, str, str, int | None, dict[str, str]]]:
        """(method, URL, content type sent, status or None when never sent, answer headers)."""
        found = []
        for request_id, sent in self.sent.items():
            answers = self.answers.get(request_id, [])
            for index, (method, url, kind) in enumerate(sent):
                status, headers = answers[index] if index < len(answers) else (None, {})
                found.append((method, url, kind, status, headers))
        return found + self.frames

    def posts_settled(self) -> int:
        """POSTs that have their answer (which may come after the end of loading) or lost a preflight."""
        return sum(1 for frame in self.frames if frame[0] == "POST") + sum(
            1
            for request_id, sent in self.sent.items()
            if sent[0][0] == "POST"
            and request_id in self.ended
            and (request_id in self.answers or request_id in self.preflight_failed)
        )

    def never_sent(self) -> set[str]:
        return {f"{self.sent[i][0][1]} {self.sent[i][0][2]}" for i in self.preflight_failed}


async def run_attack_page(browser: Browser, relay: Relay, cookies: bool = False) -> RelayTraffic:
    context = await browser.new_context()
    try:
        if cookies:  # the victim is logged in to the relay in the same browser
            page = await context.new_page()
            await page.goto(f"{relay.base}/login")
            await page.fill("input[name=token]", TOKEN)
            await page.click("button[type=submit]")
            await page.wait_for_url(f"{relay.base}/")
            assert "relay_session" in {c["name"] for c in await context.cookies()}
            await page.close()
        traffic = RelayTraffic(relay)
        dialogs: list[str] = []
        page = await context.new_page()
        page.on("dialog", lambda dialog: dialogs.append(dialog.message))
        devtools = await context.new_cdp_session(page)
        devtools.on("Network.requestWillBeSent", traffic.on_sent)
        devtools.on("Network.responseReceivedExtraInfo", traffic.on_answer)
        devtools.on("Network.loadingFinished", traffic.on_end)
        devtools.on("Network.loadingFailed", traffic.on_end)
        await devtools.send("Network.enable")
        context.on("response", traffic.on_frame_answer)
        expected = len(FORM_TARGETS) * len(ENCTYPES) + SIMPLE_SCRIPT_POSTS + PREFLIGHTED_POSTS
        with serving_pages({"/attack.html": attack_page(relay.base)}) as site:
            await page.goto(f"{site}/attack.html")
            await page.wait_for_function("window.results && window.results.done === true")
            for _ in range(1200):  # until every POST has ended (answered, refused or never sent)
                if traffic.posts_settled() >= expected:
                    break
                await asyncio.sleep(0.05)
            traffic.results = await page.evaluate("window.results")  # type: ignore[attr-defined]
        await devtools.detach()
        assert dialogs == []
        return traffic
    finally:
        await context.close()


def check_refusals(traffic: RelayTraffic, allowed: tuple[int, ...]) -> tuple[int, int]:
    """Every POST the relay answered is refused (JSON on the API), the rest never left the browser;
    no answer grants CORS. Returns (refused by the relay, stopped by the browser's preflight)."""
    refused = stopped = 0
    for method, url, kind, status, headers in traffic.exchanges():
        where = (method, url, kind, status)
        assert not any(name.startswith("access-control-allow") for name in headers), where
        path = url.removeprefix(traffic.relay.base)
        if method != "POST":
            continue  # a preflight (OPTIONS), or a frame following a redirect
        if status is None:  # the browser never sent it: its preflight got no CORS grant
            assert f"{url} {kind}" in traffic.never_sent() and path == "/api/messages", where
            stopped += 1
            continue
        if path.startswith("/login") and status == 302:
            assert headers["location"] in ("/", "/login"), where  # no token to log in with: nothing done
            continue
        assert status in allowed, where
        refused += 1
        if path.startswith(("/api/", "/ui/")):
            assert headers["content-type"].startswith("application/json"), where
    return refused, stopped


@pytest.mark.anyio
async def test_a_cross_site_page_cannot_post_by_form_fetch_beacon_or_xhr(
    browser: Browser, relay: Relay
) -> None:
    before = relay.store_state()
    traffic = await run_attack_page(browser, relay)
    results = traffic.results  # type: ignore[attr-defined]
    for name, outcome in results.items():  # no script could read an answer
        assert outcome is True or outcome.startswith(("refused", "resolved true")), (name, outcome)
    refused, stopped = check_refusals(traffic, allowed=(403, 405, 415))
    forms = len(FORM_TARGETS) * len(ENCTYPES)
    assert refused == forms - len(ENCTYPES) + SIMPLE_SCRIPT_POSTS, traffic.exchanges()  # /login: 302
    assert stopped == PREFLIGHTED_POSTS, traffic.exchanges()
    assert relay.store_state() == before and relay.texts() == [SECRET]
    count("viewer.cross_site_browser_attempts", forms + SIMPLE_SCRIPT_POSTS + PREFLIGHTED_POSTS)
    count("viewer.cross_site_refusals_checked", refused + stopped)


@pytest.mark.anyio
async def test_a_cross_site_page_cannot_post_for_a_logged_in_reader(
    browser: Browser, locked_relay: Relay
) -> None:
    before = locked_relay.store_state()
    traffic = await run_attack_page(browser, locked_relay, cookies=True)
    refused, stopped = check_refusals(traffic, allowed=(401, 403, 405, 415))
    forms = len(FORM_TARGETS) * len(ENCTYPES)
    assert refused == forms + SIMPLE_SCRIPT_POSTS and stopped == PREFLIGHTED_POSTS, traffic.exchanges()
    assert locked_relay.store_state() == before
    count("viewer.cross_site_browser_attempts", forms + SIMPLE_SCRIPT_POSTS + PREFLIGHTED_POSTS)
    count("viewer.cross_site_refusals_checked", refused + stopped)


RAW_WRITES = [
    # (what, headers, body, expected status, words the error must contain)
    ("form, no Origin", {"Content-Type": "application/x-www-form-urlencoded"},
     b"target=proj-x&sender=e&text=x", 415, "application/json"),
    ("multipart, no Origin", {"Content-Type": "multipart/form-data; boundary=b"},
     b'--b\r\nContent-Disposition: form-data; name="text"\r\n\r\nx\r\n--b--\r\n', 415, "application/json"),
    ("text/plain JSON, no Origin", {"Content-Type": "text/plain"}, None, 415, "application/json"),
    ("no content type", {}, None, 415, "application/json"),
    ("JSON, foreign Origin", {"Origin": "http://evil.example"}, None, 403, "cross-site"),
    ("JSON, foreign Origin on the relay's port", {"Origin": "http://evil.example:{port}"}, None, 403,
     "cross-site"),
    ("JSON, Origin null", {"Origin": "null"}, None, 403, "cross-site"),
    ("JSON, Origin a look-alike", {"Origin": "http://127.0.0.1:{port}.evil.example"}, None, 403,
     "cross-site"),
    ("JSON, Origin with a path", {"Origin": "http://127.0.0.1:{port}/x"}, None, 403, "cross-site"),
    ("JSON, Origin file://", {"Origin": "file://"}, None, 403, "cross-site"),
    ("JSON, cross-site fetch metadata only", {"Sec-Fetch-Site": "cross-site"}, None, 403, "cross-site"),
    ("JSON, own Origin but marked cross-site", {"Origin": "http://127.0.0.1:{port}", "Sec-Fetch-Site":
     "cross-site"}, None, 403, "cross-site"),
    ("JSON, own Origin, no CSRF token", {"Origin": "http://127.0.0.1:{port}"}, None, 403, "CSRF"),
    ("JSON, own Origin, wrong CSRF token", {"Origin": "http://127.0.0.1:{port}", CSRF_HEADER: "0" * 64},
     None, 403, "CSRF"),
    ("JSON, own Origin, token from another process", {"Origin": "http://localhost:{port}", CSRF_HEADER:
     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}, None, 403, "CSRF"),
    ("JSON, fetch metadata same-site, no Origin", {"Sec-Fetch-Site": "same-site"}, None, 403, "cross-site"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("what", "headers", "body", "status", "words"), RAW_WRITES, ids=[w[0] for w in RAW_WRITES]
)
def test_a_raw_cross_site_write_is_refused_with_a_json_reason(
    relay: Relay, what: str, headers: dict[str, str], body: bytes | None, status: int, words: str
) -> None:
    before = relay.store_state()
    sent = {} if what == "no content type" else {"Content-Type": "application/json"}
    sent.update({name: value.format(port=relay.port) for name, value in headers.items()})
    raw = body if body is not None else json.dumps({"target": "proj-x", "sender": "e", "text": what}).encode()
    got, fields, answer = relay.request("POST", "/api/messages", sent, raw)
    count("viewer.cross_site_raw_attempts")
    assert got == status, (what, got, answer)
    assert fields["content-type"].startswith("application/json")
    error = json.loads(answer)
    assert error["ok"] is False and words in error["error"], error
    assert relay.store_state() == before and relay.texts() == [SECRET]


def test_the_same_requests_from_the_relays_own_page_and_a_script_are_accepted(relay: Relay) -> None:
    """The refusals above are not the relay refusing everything: its own page and scripts can post."""
    token = relay.csrf_token()
    body = json.dumps({"target": "proj-x", "sender": "page", "text": "from the page"}).encode()
    headers = {"Content-Type": "application/json", "Origin": relay.base, CSRF_HEADER: token}
    assert relay.request("POST", "/api/messages", headers, body)[0] == 201
    relay.post_json("from a script")
    assert relay.texts() == [SECRET, "from the page", "from a script"]
