"""Idle and half-open connections cannot take a real relay-web offline.

waitress's defaults (100 connections, idle ones kept two minutes) let 101 sockets that never send a
request stop the viewer from answering anyone, ``/healthz`` included, before any auth check.
"""

from __future__ import annotations

import resource
import socket
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.e2e.web_server import running_relay_web
from tests.reliability import count

pytestmark = [pytest.mark.e2e]

IDLE_WANTED = 1100  # past waitress's old limit of 100, and past select()'s 1024 descriptors
ANSWER_TIMEOUT_S = 30  # only so a wedged server fails the test instead of hanging it


def _room_for(sockets: int) -> int:
    """Raise this process's file limit for ``sockets`` more; how many it can open."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = sockets + 256
    if hard == resource.RLIM_INFINITY or hard >= wanted:
        if soft != resource.RLIM_INFINITY and soft < wanted:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        return sockets
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return max(0, hard - 256)


def _http_get(host: str, port: int, path: str) -> bytes:
    with socket.create_connection((host, port), timeout=ANSWER_TIMEOUT_S) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def _idle_sockets(stack: ExitStack, host: str, port: int, how_many: int) -> Iterator[socket.socket]:
    for i in range(how_many):
        sock = stack.enter_context(socket.create_connection((host, port), timeout=ANSWER_TIMEOUT_S))
        if i % 2:  # every other one starts a request and never finishes it (half-open)
            sock.sendall(f"GET /healthz HTTP/1.1\r\nHost: {host}:{port}\r\n".encode())
        yield sock


def test_healthz_answers_with_more_than_a_thousand_idle_connections_open(tmp_path: Path) -> None:
    idle = _room_for(IDLE_WANTED)
    if idle <= 100:
        pytest.skip(f"this process may open only {idle} more sockets (RLIMIT_NOFILE)")
    with running_relay_web(tmp_path / "home", tmp_path / "data") as (base, _):
        host, port = base.removeprefix("http://").rsplit(":", 1)
        with ExitStack() as stack:
            opened = list(_idle_sockets(stack, host, int(port), idle))
            for path in ("/healthz", "/api/channels", "/healthz"):
                answer = _http_get(host, int(port), path)
                assert answer.startswith(b"HTTP/1.1 200 "), (path, answer[:200])
            assert _http_get(host, int(port), "/healthz").endswith(b"\r\n\r\nok")
            count("web_connections.idle_sockets", len(opened))
