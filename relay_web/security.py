"""Security hooks for every route: Host allowlist, body size, auth token, browser-write checks, headers.

The rules, and the attacks they stop, are described in docs/security.md.
"""

from __future__ import annotations

import hashlib
import hmac

from flask import Blueprint, Response, abort, current_app, g, redirect, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from relay_web.state import web

bp = Blueprint("security", __name__)

CSRF_HEADER = "X-CSRF-Token"
SESSION_COOKIE = "relay_session"
# Endpoints reachable without the auth token: liveness checks, the login form and its assets.
PUBLIC_ENDPOINTS = frozenset({"meta.healthz", "auth.login", "static", "pages.code_styles"})
JSON_PREFIXES = ("/api/", "/ui/")

CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",  # no inline script and no inline event handlers, ever
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # same-origin, not no-referrer: with no-referrer Chromium sends "Origin: null" on form posts
    # (the login form), which the Origin check must refuse. Other sites still get no referrer.
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def wants_json() -> bool:
    """Whether errors for this request are JSON (API and page data) rather than an HTML page."""
    return request.path.startswith(JSON_PREFIXES) or request.path in ("/openapi.json", "/healthz", "/mcp")


def _digest(key: str | bytes, purpose: str) -> str:
    raw = key.encode("utf-8") if isinstance(key, str) else key
    return hmac.new(raw, purpose.encode("ascii"), hashlib.sha256).hexdigest()


def _same(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def csrf_token() -> str:
    """The token this process puts in its pages; derived from a secret made at start-up."""
    return _digest(current_app.config["SECRET_KEY"], "relay-web csrf v1")


def session_value(token: str) -> str:
    """The login cookie's value: derived from the auth token, so changing the token logs everyone out."""
    return _digest(token, "relay-web session v1")


def bearer_token() -> str | None:
    """The token of an ``Authorization: Bearer`` header, if there is one."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _has_bearer(token: str) -> bool:
    return _same(bearer_token(), token)


def _has_session(token: str) -> bool:
    return _same(request.cookies.get(SESSION_COOKIE), session_value(token))


@bp.before_app_request
def check_request() -> BaseResponse | None:
    """Refuse foreign Host names, oversized bodies and (with ``auth_token``) unauthenticated requests."""
    state = web()
    host = request.headers.get("Host")
    g.refused = True  # until the checks pass: error pages then show no CSRF token or store path
    if not state.hosts.allows(host):
        abort(
            403,
            description=f"host {host!r} is not allowed: this relay answers only localhost, 127.0.0.1, "
            "[::1] and the names in allowed_hosts (CLAUDE_CODEX_ALLOWED_HOSTS); add the name you use "
            "to reach it there",
        )
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if request.content_length is not None and request.content_length > limit:
        abort(413, description=f"request body is {request.content_length} bytes; the limit is {limit}")
    token = state.config.auth_token
    authenticated = not token or _has_bearer(token) or _has_session(token)
    if not authenticated and request.endpoint not in PUBLIC_ENDPOINTS:
        if wants_json() or request.method != "GET":
            abort(
                401,
                description="this relay needs its auth token: send the header "
                "'Authorization: Bearer <auth_token>'",
            )
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    g.refused = not authenticated  # the login form (public) needs its CSRF token, not the store path
    return None


def check_write() -> str:
    """Allow a POST of a message or abort; returns its source, ``web-ui`` (a page) or ``api`` (a script).

    A request with an ``Origin`` or ``Sec-Fetch-Site`` header comes from a browser: it must come from an
    allowed origin and carry the page's CSRF token (unless it authenticates with the Bearer token,
    which no cross-site page can send). Every write must be ``application/json``: a cross-site HTML
    form cannot send that without a CORS preflight, which the relay never grants.
    """
    state = web()
    token = state.config.auth_token
    origin = request.headers.get("Origin")
    fetch_site = request.headers.get("Sec-Fetch-Site")
    from_browser = origin is not None or fetch_site is not None
    if from_browser and not (token and _has_bearer(token)):
        if fetch_site == "cross-site" or not state.hosts.allows_origin(origin):
            abort(
                403,
                description=f"cross-site write refused (Origin {origin!r}): only the relay's own pages "
                "may post from a browser; scripts post JSON without an Origin header",
            )
        if not _same(request.headers.get(CSRF_HEADER), csrf_token()):
            abort(
                403,
                description="missing or stale CSRF token (the relay may have restarted): "
                "reload the page and post again",
            )
    if request.mimetype != "application/json":
        abort(
            415,
            description=f"unsupported content type {request.mimetype or '(none)'!r}: send the body as JSON "
            'with \'Content-Type: application/json\', e.g. {"target": "proj-x", "sender": "me", '
            '"text": "hi"}',
        )
    return "web-ui" if from_browser else "api"


@bp.after_app_request
def add_security_headers(response: Response) -> Response:
    """Send the CSP and the other protective headers with every response."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if "Cache-Control" not in response.headers:
        response.headers["Cache-Control"] = "no-store"  # pages hold the CSRF token; API data is live
    return response
