"""``/mcp``: the relay's MCP tools, resources and prompts over Streamable HTTP.

The server is the one ``relay-stdio`` runs (``shared/mcp``), served by the SDK's Streamable HTTP
transport through :mod:`relay_web.asgi_bridge`. The route sits behind the same hooks as every other
route (``security.check_request``: Host allowlist, body size, auth token); it adds the Origin rule MCP
asks of HTTP servers, and not the CSRF rule for the viewer's own forms, which MCP clients cannot
follow. Design and thread budget: docs/architecture.md; client setup: docs/http-api.md.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from flask import Blueprint, Flask, abort, current_app, request
from mcp.server.mcpserver import Context
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import ASGIApp
from werkzeug.exceptions import ServiceUnavailable
from werkzeug.wrappers import Response

from relay_web.asgi_bridge import EventLoopThread, call_asgi
from relay_web.state import web
from shared.errors import InvalidInput
from shared.mcp.identity import client_identity
from shared.mcp.server import build_server
from shared.models import normalize_sender
from shared.relay import Relay

bp = Blueprint("mcp", __name__)

PATH = "/mcp"
SENDER_HEADER = "X-Relay-Sender"
SENDER_PARAM = "sender"
EXTENSION = "relay_web.mcp"
STREAMS_MAX = 32
"""MCP requests served at once. Each holds a waitress worker thread while its response streams (a
``wait_for_messages`` for up to its timeout), so relay-web runs this many threads on top of the
viewer's and answers 503 beyond it: agents waiting never starve the pages and the API."""
_ENVIRON_SENDER = "HTTP_" + SENDER_HEADER.upper().replace("-", "_")


def http_identity(ctx: Context) -> str:
    """Who an HTTP call posts and reads as: its ``X-Relay-Sender`` (or ``?sender=``), else the client."""
    headers = ctx.headers
    sender = headers.get(SENDER_HEADER) if headers is not None else None
    if sender:
        return sender.encode("latin-1").decode("utf-8")  # HTTP carries the UTF-8 name byte for byte
    return client_identity(ctx)


@dataclass
class McpEndpoint:
    """The MCP server for one app, built on its first request; its event loop runs until :meth:`close`."""

    relay: Relay
    max_body: int
    slots: threading.BoundedSemaphore = field(default_factory=lambda: threading.BoundedSemaphore(STREAMS_MAX))
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _app: ASGIApp | None = None
    _loop: EventLoopThread | None = None

    def asgi(self) -> tuple[ASGIApp, EventLoopThread]:
        """The SDK's Streamable HTTP app and the loop it runs on."""
        with self._lock:
            if self._app is None or self._loop is None:
                server = build_server(self.relay, http_identity)
                self._app = server.streamable_http_app(
                    streamable_http_path=PATH,
                    max_request_body_size=self.max_body,
                    # The relay's own Host and Origin rules (allowed_hosts included) already ran.
                    transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
                )
                self._loop = EventLoopThread(server.session_manager.run, name="relay-web-mcp")
            return self._app, self._loop

    def close(self) -> None:
        """End every MCP session and stop the event loop thread (relay-web calls this on exit)."""
        with self._lock:
            loop = self._loop
        if loop is not None:
            loop.stop()


def register(app: Flask, relay: Relay) -> None:
    """Serve ``/mcp`` on ``app`` for ``relay``."""
    app.extensions[EXTENSION] = McpEndpoint(relay, app.config["MAX_CONTENT_LENGTH"])
    app.register_blueprint(bp)


def endpoint_of(app: Flask) -> McpEndpoint:
    """The app's MCP endpoint (to close it when the server stops)."""
    found: McpEndpoint = app.extensions[EXTENSION]
    return found


def registration_help(base_url: str, needs_token: bool) -> str:
    """How an agent joins over HTTP, for relay-web's start-up banner."""
    url = base_url.rstrip("/") + PATH
    header = ' --header "Authorization: Bearer $CLAUDE_CODEX_AUTH_TOKEN"' if needs_token else ""
    codex_token = ', bearer_token_env_var = "CLAUDE_CODEX_AUTH_TOKEN"' if needs_token else ""
    return "\n".join(
        [
            f"Or over HTTP, from any machine that reaches this address (MCP at {url}):",
            f"  Claude Code:  claude mcp add --transport http relay {url}{header}",
            f'  Codex:        [mcp_servers.relay] url = "{url}"{codex_token}',
        ]
    )


def _refuse_foreign_origin() -> None:
    """A browser request must come from an allowed origin: MCP servers must check ``Origin`` (a page on
    another site could otherwise drive the tools through the reader's browser)."""
    origin = request.headers.get("Origin")
    cross_site = request.headers.get("Sec-Fetch-Site") == "cross-site"
    if cross_site or (origin is not None and not web().hosts.allows_origin(origin)):
        abort(
            403,
            description=f"MCP request from another site refused (Origin {origin!r}): /mcp answers "
            "MCP clients and pages of the relay's own hosts only",
        )


def _set_sender() -> None:
    """Check ``X-Relay-Sender`` or ``?sender=`` and leave the result in the header the tools read."""
    raw = request.headers.get(SENDER_HEADER)
    where = f"the {SENDER_HEADER} header"
    if raw is None:
        raw, where = request.args.get(SENDER_PARAM), f"the ?{SENDER_PARAM}= parameter"
    else:
        raw = _header_text(raw)
    if raw is None:
        return
    try:
        sender = normalize_sender(raw)
    except InvalidInput as exc:
        raise InvalidInput(f"{where} is not a valid sender: {exc}") from None
    request.environ[_ENVIRON_SENDER] = sender.encode("utf-8").decode("latin-1")


def _header_text(value: str) -> str:
    """A header value as text: its bytes as UTF-8 when they are, else as Latin-1 (how browsers and
    Node send a character below U+0100)."""
    data = value.encode("latin-1")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return value


@bp.route(PATH, methods=["GET", "POST", "DELETE"])
def serve() -> Response:
    """One Streamable HTTP request: POST carries messages, DELETE ends a session.

    GET (a stream for messages the server starts on its own) is answered 405, which the transport
    allows: the relay sends none, and each open stream would hold a worker thread for good.
    """
    _refuse_foreign_origin()
    if request.method == "GET":
        abort(405, valid_methods=["POST", "DELETE"])
    _set_sender()
    mcp = current_app.extensions[EXTENSION]
    if not mcp.slots.acquire(blocking=False):
        raise ServiceUnavailable(
            f"{STREAMS_MAX} MCP requests are already in progress on this relay; retry in a moment "
            "(or end some waits)",
            retry_after=1,
        )
    try:
        app, loop = mcp.asgi()
        answer = call_asgi(app, loop, request.environ)
    except BaseException:
        mcp.slots.release()
        raise
    response = Response(answer.body, status=answer.status, headers=answer.headers)
    response.call_on_close(mcp.slots.release)
    return response
