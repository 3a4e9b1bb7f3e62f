"""Serve an ASGI app (the MCP SDK's Streamable HTTP transport) from relay-web's WSGI server.

relay-web is a Flask app under waitress, a WSGI server with a fixed pool of worker threads; the SDK's
transport is an ASGI (Starlette) app. Here each WSGI request becomes one ASGI request running as a
task on a single event loop thread (:class:`EventLoopThread`), which also holds the SDK's session
manager open for as long as relay-web runs. The worker thread that took the request only relays the
response: it blocks on a queue and hands each body chunk (each server-sent event) to waitress, which
sends it at once, so progress notifications of a long ``wait_for_messages`` reach the client as they
happen.

Why not a ready-made adapter (a2wsgi's ``ASGIMiddleware``): when the WSGI server closes a response
early (the client went away during a wait), it neither answers the app's pending ``send`` nor tells
the app ``http.disconnect``, so the request's task waits forever. Here closing the response always
tells the app that the client disconnected, and the app's sends never wait on the WSGI thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager
from http import HTTPStatus
from typing import Any

from starlette.types import ASGIApp, Message, Scope

log = logging.getLogger("relay.web")

# Headers that belong to one connection, which a WSGI app must not set (PEP 3333); waitress refuses them.
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
     "transfer-encoding", "upgrade"}
)  # fmt: skip
START_TIMEOUT_S = 30.0


class EventLoopThread:
    """One asyncio event loop on a daemon thread, holding ``lifespan`` open from start to stop.

    Started on first use, so an app that never serves the ASGI part starts no thread.
    """

    def __init__(self, lifespan: Callable[[], AbstractAsyncContextManager[Any]], name: str) -> None:
        self._lifespan = lifespan
        self._name = name
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None

    def start(self) -> asyncio.AbstractEventLoop:
        """The running loop, started (and the lifespan entered) if it was not yet.

        Raises:
            RuntimeError: the lifespan failed to start, or the loop was stopped.
        """
        with self._lock:
            if self._thread is None:
                self._loop = asyncio.new_event_loop()
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
        if not self._ready.wait(START_TIMEOUT_S) or self._error is not None or self._loop is None:
            raise RuntimeError(f"{self._name} could not start: {self._error!r}")
        if self._loop.is_closed():
            raise RuntimeError(f"{self._name} has stopped")
        return self._loop

    def stop(self, timeout: float = 10.0) -> None:
        """Leave the lifespan (ending every session), cancel what still runs, and end the thread."""
        with self._lock:
            loop, stop, thread = self._loop, self._stop, self._thread
        if loop is None or thread is None:
            return
        if stop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stop.set)
        thread.join(timeout)

    def _run(self) -> None:
        assert self._loop is not None
        loop = self._loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._hold_lifespan())
        except BaseException as exc:
            self._error = exc
            log.error("%s stopped with an error", self._name, exc_info=exc)
        finally:
            self._ready.set()
            leftovers = asyncio.all_tasks(loop)
            for task in leftovers:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
            loop.close()

    async def _hold_lifespan(self) -> None:
        self._stop = asyncio.Event()
        async with self._lifespan():
            self._ready.set()
            await self._stop.wait()


def build_scope(environ: dict[str, Any]) -> Scope:
    """The ASGI HTTP scope of a WSGI request (paths decoded as WSGI encodes them: UTF-8 in latin-1)."""
    headers = [
        (key[5:].replace("_", "-").lower().encode("latin-1"), str(value).encode("latin-1"))
        for key, value in environ.items()
        if key.startswith("HTTP_") and key not in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH")
    ]
    for key, name in (("CONTENT_TYPE", b"content-type"), ("CONTENT_LENGTH", b"content-length")):
        if environ.get(key):
            headers.append((name, str(environ[key]).encode("latin-1")))
    root_path = environ.get("SCRIPT_NAME", "").encode("latin-1").decode("utf-8", "replace")
    path = environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8", "replace")
    scope: Scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": environ.get("SERVER_PROTOCOL", "HTTP/1.1").partition("/")[2] or "1.1",
        "method": environ["REQUEST_METHOD"],
        "scheme": environ.get("wsgi.url_scheme", "http"),
        "path": root_path + path,
        "raw_path": (root_path + path).encode("utf-8"),
        "query_string": environ.get("QUERY_STRING", "").encode("latin-1"),
        "root_path": root_path,
        "headers": headers,
        "server": (environ.get("SERVER_NAME", ""), int(environ.get("SERVER_PORT") or 0)),
    }
    if environ.get("REMOTE_ADDR"):
        scope["client"] = (environ["REMOTE_ADDR"], int(environ.get("REMOTE_PORT") or 0))
    return scope


class _Exchange:
    """One request: its body going in, the app's messages coming out through a thread-safe queue."""

    def __init__(self, body: bytes) -> None:
        self.body: bytes | None = body
        self.outbox: queue.SimpleQueue[Message | None] = queue.SimpleQueue()
        self.disconnected: asyncio.Event | None = None

    async def run(self, app: ASGIApp, scope: Scope) -> None:
        self.disconnected = asyncio.Event()
        try:
            await app(scope, self.receive, self.send)
        finally:
            self.outbox.put(None)  # the end, whether the app returned, failed or was cancelled

    async def receive(self) -> Message:
        if self.body is not None:
            body, self.body = self.body, None
            return {"type": "http.request", "body": body, "more_body": False}
        assert self.disconnected is not None
        await self.disconnected.wait()  # until the response is closed (sent, or the client went away)
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        self.outbox.put(message)

    def disconnect(self) -> None:
        if self.disconnected is not None:
            self.disconnected.set()


class Response:
    """A started response: status, headers and the body as it streams.

    Closing it (the WSGI server does when the body is sent or the client is gone) tells the app.
    """

    def __init__(self, status: str, headers: list[tuple[str, str]], body: Iterator[bytes]) -> None:
        self.status = status
        self.headers = headers
        self.body = body


def call_asgi(app: ASGIApp, loop_thread: EventLoopThread, environ: dict[str, Any]) -> Response:
    """Run one WSGI request through ``app`` and return its response once the app has started it.

    Blocks the calling (worker) thread until the app sends its status and headers; the body is then
    read from :attr:`Response.body` as the app sends it.
    """
    length = int(environ.get("CONTENT_LENGTH") or 0)
    exchange = _Exchange(environ["wsgi.input"].read(length) if length > 0 else b"")
    loop = loop_thread.start()
    task = asyncio.run_coroutine_threadsafe(exchange.run(app, build_scope(environ)), loop)
    task.add_done_callback(_log_failure)
    first = exchange.outbox.get()
    if first is None or first["type"] != "http.response.start":
        loop.call_soon_threadsafe(exchange.disconnect)
        log.error("the ASGI app ended without starting a response")
        body = b'{"ok": false, "error": "the MCP endpoint failed; see the relay log"}'
        return Response("500 Internal Server Error", [("Content-Type", "application/json")], iter([body]))
    status = int(first["status"])
    headers = [
        (name.decode("latin-1"), value.decode("latin-1"))
        for name, value in first.get("headers", [])
        if name.decode("latin-1").lower() not in HOP_BY_HOP
    ]
    return Response(f"{status} {_phrase(status)}", headers, _body(exchange, loop))


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _log_failure(task: concurrent.futures.Future[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("an ASGI request failed", exc_info=task.exception())


def _body(exchange: _Exchange, loop: asyncio.AbstractEventLoop) -> Iterator[bytes]:
    """The body chunks as the app sends them; on close the app is told the client disconnected."""
    try:
        while True:
            message = exchange.outbox.get()
            if message is None:
                return
            if message["type"] != "http.response.body":
                continue
            chunk = message.get("body", b"")
            if chunk:
                yield chunk
            if not message.get("more_body", False):
                return
    finally:
        if not loop.is_closed():
            loop.call_soon_threadsafe(exchange.disconnect)
