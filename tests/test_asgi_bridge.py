"""relay_web/asgi_bridge.py: an ASGI app served from a WSGI thread, streamed, and told when it is closed.

The apps here are small real ASGI apps; the bridge, its event-loop thread and the queues are the real
ones. The MCP transport over the bridge is tested in tests/test_web_mcp.py and tests/e2e/test_mcp_http.py.
"""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from relay_web.asgi_bridge import EventLoopThread, build_scope, call_asgi

Events = list[str]


@asynccontextmanager
async def lifespan() -> AsyncIterator[None]:
    yield


@pytest.fixture
def loop_thread() -> Iterator[EventLoopThread]:
    thread = EventLoopThread(lifespan, name="test-bridge")
    yield thread
    thread.stop()


def environ(body: bytes = b"", path: str = "/mcp", query: str = "") -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path.encode("utf-8").decode("latin-1"),
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8010",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_X_RELAY_SENDER": "Zo\u00c3\u00ab",  # UTF-8 bytes of "Zoë", as WSGI carries them
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "5555",
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
    }


def test_the_scope_carries_path_query_and_headers_as_asgi_expects() -> None:
    scope = build_scope(environ(b"{}", path="/mcp/é", query="sender=a"))
    assert (scope["method"], scope["path"], scope["query_string"]) == ("POST", "/mcp/é", b"sender=a")
    headers = dict(scope["headers"])
    assert headers[b"x-relay-sender"].decode("utf-8") == "Zoë"
    assert headers[b"content-type"] == b"application/json" and headers[b"content-length"] == b"2"
    assert scope["client"] == ("127.0.0.1", 5555) and scope["server"] == ("127.0.0.1", 8010)


def test_chunks_reach_the_wsgi_side_while_the_app_is_still_running(loop_thread: EventLoopThread) -> None:
    """The second chunk is only sent after the test has read the first: a buffering bridge would hang."""
    first_read = threading.Event()
    seen: Events = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        request = await receive()
        seen.append(request["body"].decode())
        headers = [(b"content-type", b"text/event-stream"), (b"connection", b"keep-alive")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"one\n", "more_body": True})
        await asyncio.get_running_loop().run_in_executor(None, first_read.wait, 30)
        await send({"type": "http.response.body", "body": b"two\n", "more_body": False})

    response = call_asgi(app, loop_thread, environ(b'{"x": 1}'))
    assert response.status == "200 OK"
    assert response.headers == [("content-type", "text/event-stream")]  # no hop-by-hop header for WSGI
    chunks = [next(response.body)]
    first_read.set()
    chunks += list(response.body)
    assert chunks == [b"one\n", b"two\n"] and seen == ['{"x": 1}']


def test_closing_the_response_early_tells_the_app_and_ends_its_task(loop_thread: EventLoopThread) -> None:
    events: Events = []
    finished = threading.Event()

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"progress\n", "more_body": True})
        try:
            events.append((await receive())["type"])  # what a streaming response listens for
        finally:
            finished.set()

    response = call_asgi(app, loop_thread, environ())
    assert next(response.body) == b"progress\n"
    response.body.close()  # waitress does this when the client has gone away
    assert finished.wait(10)
    assert events == ["http.disconnect"]


def test_an_app_that_fails_before_answering_is_a_500_and_after_it_ends_the_body(
    loop_thread: EventLoopThread,
) -> None:
    async def fails_at_once(scope: Any, receive: Any, send: Any) -> None:
        raise RuntimeError("broken app")

    async def fails_midway(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"part", "more_body": True})
        raise RuntimeError("broken midway")

    early = call_asgi(fails_at_once, loop_thread, environ())
    assert early.status == "500 Internal Server Error" and b"see the relay log" in b"".join(early.body)
    late = call_asgi(fails_midway, loop_thread, environ())
    assert (late.status, b"".join(late.body)) == ("200 OK", b"part")


def test_stopping_the_loop_ends_a_response_that_is_still_streaming() -> None:
    thread = EventLoopThread(lifespan, name="test-bridge-stop")

    async def forever(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"start", "more_body": True})
        await asyncio.Event().wait()

    response = call_asgi(forever, thread, environ())
    assert next(response.body) == b"start"
    thread.stop()
    assert list(response.body) == []  # the cancelled task ended the stream instead of hanging the worker
    with pytest.raises(RuntimeError, match="has stopped"):
        thread.start()


def test_the_lifespan_is_entered_once_and_left_at_stop() -> None:
    states: Events = []

    @asynccontextmanager
    async def recorded() -> AsyncIterator[None]:
        states.append("entered")
        yield
        states.append("left")

    thread = EventLoopThread(recorded, name="test-bridge-lifespan")
    assert thread.start() is thread.start()
    thread.stop()
    assert states == ["entered", "left"]
