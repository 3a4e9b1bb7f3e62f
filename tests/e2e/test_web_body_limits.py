"""Request bodies over the limit are refused early by a real relay-web, however they are sent.

The limit is ``6 * max_message_bytes + 64 KiB`` (any JSON escaping of a maximal message fits). A body
announced bigger (``Content-Length``) is refused from the headers alone, before a byte of it is
sent; a chunked body is refused as soon as the stream passes the limit, long before it ends. Both
for scripts and for the viewer's own composer (same ``Origin`` and CSRF token), and for the login form.
"""

from __future__ import annotations

import json
import re
import select
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from relay_web.app import body_limit
from relay_web.security import CSRF_HEADER
from shared.models import DEFAULT_MAX_MESSAGE_BYTES
from tests.e2e.web_server import running_relay_web
from tests.reliability import count

pytestmark = [pytest.mark.e2e]

LIMIT = body_limit(DEFAULT_MAX_MESSAGE_BYTES)
STREAM = 64 * 1024 * 1024  # what the chunked sender would send if nobody stopped it


class Server:
    def __init__(self, base: str, data_dir: Path) -> None:
        self.base = base
        self.data_dir = data_dir
        host, port = base.removeprefix("http://").rsplit(":", 1)
        self.host, self.port = host, int(port)

    def connect(self) -> socket.socket:
        return socket.create_connection((self.host, self.port), timeout=30)

    def head(self, method: str, path: str, headers: dict[str, str]) -> bytes:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}", "Connection: close"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    def csrf_token(self) -> str:
        with self.connect() as sock:
            sock.sendall(self.head("GET", "/channels/proj-x", {}))
            page = read_all(sock)
        found = re.search(rb'name="csrf-token" content="([0-9a-f]+)"', page)
        assert found
        return found.group(1).decode()

    def stored(self) -> list[Path]:
        return sorted((self.data_dir / "channels").glob("*.jsonl"))


def read_all(sock: socket.socket) -> bytes:
    answer = b""
    while chunk := sock.recv(65536):
        answer += chunk
    return answer


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    data_dir = tmp_path / "store"
    with running_relay_web(tmp_path / "home", data_dir) as (base, _):
        yield Server(base, data_dir)


def senders(server: Server) -> dict[str, tuple[str, dict[str, str]]]:
    page = {"Origin": server.base, CSRF_HEADER: server.csrf_token(), "Sec-Fetch-Site": "same-origin"}
    return {
        "script": ("/api/messages", {"Content-Type": "application/json"}),
        "composer": ("/api/messages", {"Content-Type": "application/json", **page}),
        "login form": (
            "/login",
            {"Content-Type": "application/x-www-form-urlencoded", "Origin": server.base},
        ),
        "a page (405)": ("/channels/proj-x", {"Content-Type": "application/json"}),
    }


@pytest.mark.parametrize("size", [LIMIT + 1, 10 * LIMIT, 2**62])
def test_an_announced_oversized_body_is_refused_from_the_headers(server: Server, size: int) -> None:
    for who, (path, headers) in senders(server).items():
        with server.connect() as sock:
            sock.sendall(server.head("POST", path, {**headers, "Content-Length": str(size)}))
            answer = read_all(sock)  # answered and closed without a byte of the body sent
        count("limits.announced_oversized_refused")
        assert status_of(answer) == 413, (who, answer[:300])
        assert f"max_body of {LIMIT}".encode() in answer, answer
    assert server.stored() == []


def stream_chunks(sock: socket.socket, total: int, chunk: bytes) -> tuple[int, bytes]:
    """Send ``total`` bytes as chunks until the server answers; returns (bytes sent, answer)."""
    sent = 0
    while sent < total:
        readable, writable, _ = select.select([sock], [sock], [], 30)
        if readable:
            break
        assert writable, "the server neither reads nor answers"
        try:
            sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        except (BrokenPipeError, ConnectionResetError):
            break
        sent += len(chunk)
    try:
        return sent, read_all(sock)
    except ConnectionResetError:
        return sent, b""


CHUNK = b'{"target": "proj-x", "sender": "s", "text": "' + b"x" * 65_000


def test_a_chunked_stream_is_answered_413_once_it_reaches_the_limit_without_its_end(server: Server) -> None:
    """The stream is never ended (no last chunk): the answer can only come from the server counting
    the bytes as they arrive. waitress counts a chunked body as it comes off the wire, chunk sizes and
    line ends included, and refuses it when that count reaches the limit; the test sends exactly that
    many bytes and no more, because bytes the server never reads would make its close a reset that
    can swallow the answer (under load it did)."""
    framed = b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK)
    wire = (framed * (LIMIT // len(framed) + 1))[:LIMIT]
    for who, (path, headers) in senders(server).items():
        with server.connect() as sock:
            sock.sendall(server.head("POST", path, {**headers, "Transfer-Encoding": "chunked"}))
            sock.sendall(wire)
            answer = read_all(sock)
        count("limits.chunked_streams_refused")
        assert status_of(answer) == 413 and b"max_body of %d" % LIMIT in answer, (who, answer[:300])
    assert server.stored() == []


@pytest.mark.slow
def test_a_chunked_flood_is_cut_off_long_before_it_ends(server: Server) -> None:
    """A sender that never stops is cut off: the server answers 413 and closes, which may reach the
    sender as a reset (its unread bytes are dropped); either way it sent little past the limit."""
    for who, (path, headers) in senders(server).items():
        with server.connect() as sock:
            sock.sendall(server.head("POST", path, {**headers, "Transfer-Encoding": "chunked"}))
            sent, answer = stream_chunks(sock, STREAM, CHUNK)
        count("limits.chunked_streams_refused")
        count("limits.chunked_bytes_sent_before_refusal", sent)
        assert LIMIT < sent < STREAM // 4, (who, sent)  # past the limit by what the socket buffers held
        assert answer == b"" or status_of(answer) == 413, (who, answer[:300])
    assert server.stored() == []


def test_a_chunked_body_under_the_limit_is_accepted(server: Server) -> None:
    body = json.dumps({"target": "proj-x", "sender": "s", "text": "chunked but small"}).encode()
    with server.connect() as sock:
        sock.sendall(
            server.head(
                "POST", "/api/messages", {"Content-Type": "application/json", "Transfer-Encoding": "chunked"}
            )
        )
        sock.sendall(b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
        answer = read_all(sock)
    assert status_of(answer) == 201, answer[:300]
    assert json.loads(server.stored()[0].read_text())["text"] == "chunked but small"


def test_a_text_over_max_message_bytes_is_a_json_413_with_both_sizes(server: Server) -> None:
    body = json.dumps({"target": "proj-x", "sender": "s", "text": "é" * DEFAULT_MAX_MESSAGE_BYTES}).encode()
    assert len(body) < LIMIT  # the body fits; the text does not
    for who, (path, headers) in list(senders(server).items())[:2]:
        with server.connect() as sock:
            sock.sendall(server.head("POST", path, {**headers, "Content-Length": str(len(body))}) + body)
            answer = read_all(sock)
        head, _, content = answer.partition(b"\r\n\r\n")
        assert status_of(answer) == 413 and b"application/json" in head, (who, answer[:300])
        error = json.loads(content)["error"]
        assert (
            f"{2 * DEFAULT_MAX_MESSAGE_BYTES} bytes" in error
            and f"{DEFAULT_MAX_MESSAGE_BYTES} bytes" in error
        )
    assert server.stored() == []
