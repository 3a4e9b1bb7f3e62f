"""Hostile names through every HTTP route and parameter: nothing outside the data dir is read or written.

The corpus and the snapshot sandbox come from ``tests/test_path_traversal.py``. Beside the data dir
lie bait channel files (valid JSONL whose text is a marker) where a traversal would land; no answer may
ever contain the marker, ``/etc/passwd`` or the relay's own source, and the snapshot must not change.
Each name is sent plain, percent-encoded, double-encoded and with backslashes: through the Flask app
in-process (every route in ``app.url_map``), then as raw request lines to a real ``relay-web``, so no
client library normalises the path first.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest
from flask import Flask

from relay_web import create_app
from shared.config import resolve_config
from tests.e2e.web_server import running_relay_web
from tests.reliability import count
from tests.test_path_traversal import HOSTILE, Sandbox, snapshot

MARKER = "BAIT-f3a9-outside-the-data-dir"
LEAKS = (MARKER, "root:x:0:", "def create_app", "[mcp_servers")
# Every route of the app, as the tests below reach it (a new route must be added here).
ROUTES = {
    "/",
    "/channels/<target>",
    "/ui/channels/<target>/updates",
    "/ui/channels/<target>/older",
    "/api/channels",
    "/api/messages",
    "/assets/pygments.css",
    "/healthz",
    "/openapi.json",
    "/login",
    "/static/<path:filename>",
    "/mcp",  # names reach it only as tool arguments and the sender label: tests/test_web_mcp.py
    "/ui/channels",
    "/channels/<target>/threads/<int:message_id>",
    "/api/search",
    "/api/presence",
    "/search",
    "/api",
}


def lay_bait(box: Sandbox) -> None:
    """Valid channel files outside the data dir, where ``channels/<name>.jsonl`` would land."""
    record = {"id": 1, "ts": 1.0, "target": "x", "sender": "bait", "text": MARKER}
    line = json.dumps(record) + "\n"
    for bait in ("x", "b", "proj-y", "etc/passwd", "deep/x", "deep/er/x", "deep/er/b", "deep/er/passwd"):
        path = box.root / f"{bait}.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(line)
    (box.root / "deep" / "er" / "static").mkdir()
    (box.root / "deep" / "er" / "static" / "relay.js").write_text(MARKER)
    box.before = snapshot(box.root, skip=box.data_dir)


@pytest.fixture
def box(sandbox: Sandbox) -> Sandbox:
    lay_bait(sandbox)
    return sandbox


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    box = Sandbox(tmp_path / "sandbox")
    yield box
    box.verify()


def spellings(name: str) -> list[str]:
    """A name as a path segment: encoded, with its slashes raw, double-encoded, with backslashes."""
    return sorted(
        {
            quote(name, safe=""),
            quote(name, safe="/"),
            quote(quote(name, safe=""), safe=""),
            quote(name.replace("/", "\\"), safe="\\"),
        }
    )


def requests_for(name: str) -> list[tuple[str, str, dict[str, str] | None]]:
    """(method, request target, JSON body) for every route and parameter that takes this name."""
    sent: list[tuple[str, str, dict[str, str] | None]] = []
    for segment in spellings(name):
        sent += [
            ("GET", f"/channels/{segment}", None),
            ("GET", f"/ui/channels/{segment}/updates?since_id=0", None),
            ("GET", f"/ui/channels/{segment}/older?before_id=5", None),
            ("GET", f"/static/{segment}", None),
            ("GET", f"/api/messages?target={segment}", None),
            ("GET", f"/api/messages?target={segment}&since_id=0", None),
            ("GET", f"/api/messages?target={segment}&before_id=9", None),
            ("GET", f"/api/messages?target=x&limit={segment}&since_id={segment}", None),
            ("GET", f"/login?next={segment}", None),
            ("GET", f"/?{segment}={segment}", None),
            ("GET", f"/channels/{segment}/threads/1", None),
            ("GET", f"/api/search?q=x&target={segment}", None),
            ("GET", f"/api/search?q={segment}", None),
            ("GET", f"/api/presence?target={segment}", None),
            ("GET", f"/search?q=x&target={segment}", None),
        ]
    sent += [
        ("POST", "/api/messages", {"target": name, "sender": "s", "text": "hostile target"}),
        ("POST", "/api/messages", {"target": "t", "sender": name, "text": "hostile sender"}),
    ]
    return sent


def check_answer(
    method: str, target: str, status: int, content_type: str, body: bytes, location: str = ""
) -> None:
    """Served inside the data dir or refused clearly; never a crash, never a byte from outside."""
    text = body.decode("utf-8", "replace")
    assert status < 500, (method, target, status, text[:300])
    if 300 <= status < 400:  # a redirect stays on this relay
        where = urlsplit(location)
        assert where.hostname in (None, "localhost", "127.0.0.1"), (target, location)
        assert where.path.startswith("/") and not where.path.startswith(("//", "/\\")), (target, location)
    for leak in LEAKS:
        assert leak not in text, (method, target, leak)
    if status >= 400 and target.startswith(("/api/", "/ui/")):
        assert content_type.startswith("application/json"), (target, content_type)
        error = json.loads(body)["error"]
        assert len(error) > 10 and "Traceback" not in error, (target, error)
    if status == 400 and "target=" in target and "limit=" not in target:
        assert "letters, digits" in text or "must be" in text, (target, text)
    if status == 404 and target.startswith("/channels/"):
        assert any(why in text for why in ("no channel", "no such page", "has no message")), (target, text)


def make_app(data_dir: Path) -> Flask:
    return create_app(resolve_config({"data_dir": str(data_dir)}, env={}), {"TESTING": True})


def test_the_route_list_covers_every_route_of_the_app(box: Sandbox) -> None:
    assert {rule.rule for rule in make_app(box.data_dir).url_map.iter_rules()} == ROUTES


def test_every_route_and_parameter_confines_every_name_in_process(box: Sandbox) -> None:
    client = make_app(box.data_dir).test_client()
    statuses: set[int] = set()
    for name in HOSTILE:
        for method, target, body in requests_for(name):
            path, _, query = target.partition("?")
            count("traversal.http_attempts")
            with client.open(
                path, method=method, query_string=query, json=body, headers={"Host": "localhost"}
            ) as response:
                check_answer(
                    method,
                    target,
                    response.status_code,
                    response.content_type,
                    response.data,
                    response.headers.get("Location", ""),
                )
                statuses.add(response.status_code)
    assert {200, 201, 400, 404} <= statuses
    count("traversal.http_payloads", len(HOSTILE))
    box.verify()


# Request targets no HTTP client would send unnormalised: dot segments, encoded dots and slashes,
# backslashes, absolute and protocol-relative forms, NUL, overlong UTF-8.
RAW_TARGETS = [
    "/channels/../../../../etc/passwd",
    "/channels/..%2f..%2f..%2fetc%2fpasswd",
    "/channels/%2e%2e/%2e%2e/x",
    "/channels/%2e%2e%2f%2e%2e%2fx",
    "/channels/..%252f..%252fx",
    "/channels/..\\..\\x",
    "/channels/%c0%ae%c0%ae%c0%afx",
    "/channels/x%00.jsonl",
    "/channels/proj-x/../../../x",
    "/static/../../../../../../etc/passwd",
    "/static/..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd",
    "/static/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/static/../app.py",
    "/static/..%2fapp.py",
    "/static/%2e%2e%2fapp.py",
    "/static/..\\app.py",
    "/static//etc/passwd",
    "/static/%2fetc%2fpasswd",
    "/static/relay.js%00.py",
    "/ui/channels/..%2f..%2fx/updates?since_id=0",
    "/ui/channels/../../x/updates?since_id=0",
    "/api/messages?target=../../x",
    "/api/messages?target=..%2f..%2fx",
    "/api/messages?target=..%252f..%252fx",
    "/api/messages?target=%2e%2e%5c%2e%2e%5cx",
    "/api/messages?target=/etc/passwd",
    "/api/messages?target=x%00../../b",
    "/api/../../../etc/passwd",
    "//etc/passwd",
    "/..%2f..%2f..%2fetc%2fpasswd",
    "http://127.0.0.1/../../../etc/passwd",
    "/%2e%2e/%2e%2e/etc/passwd",
    "/login?next=//evil.example/../../etc/passwd",
]


def raw_request(base: str, method: str, target: str, body: bytes = b"") -> tuple[int, str, bytes, str]:
    """Send one request line exactly as given; return (status, content type, body, Location)."""
    host, port = base.removeprefix("http://").rsplit(":", 1)
    head = (
        f"{method} {target} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head.encode("latin-1") + body)
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
    header, _, content = raw.partition(b"\r\n\r\n")
    lines = header.decode("latin-1").split("\r\n")
    fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), fields.get("content-type", ""), content, fields.get("location", "")


@pytest.mark.slow
@pytest.mark.e2e
def test_a_real_relay_web_confines_raw_request_targets(box: Sandbox, tmp_path: Path) -> None:
    with running_relay_web(tmp_path / "web-home", box.data_dir) as (base, _):
        for target in RAW_TARGETS:
            count("traversal.http_attempts")
            check_answer("GET", target, *raw_request(base, "GET", target))
        for name in HOSTILE:
            for method, target, body in requests_for(name):
                count("traversal.http_attempts")
                data = json.dumps(body).encode() if body is not None else b""
                check_answer(method, target, *raw_request(base, method, target, data))
        status, _, page, _ = raw_request(base, "GET", "/static/relay.js")
        assert status == 200 and MARKER.encode() not in page  # the real static folder, not the bait
    box.verify()
