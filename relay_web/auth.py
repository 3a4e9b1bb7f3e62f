"""The login form used when ``auth_token`` is set: it trades the token for a session cookie."""

from __future__ import annotations

import hmac
import re
from urllib.parse import quote

from flask import Blueprint, abort, make_response, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from relay_web.security import SESSION_COOKIE, csrf_token, session_value
from relay_web.state import web

bp = Blueprint("auth", __name__)


# Browsers delete tabs and line breaks anywhere in a URL, strip other control characters at its ends
# and read a backslash as a slash, so "/\t/evil.example" or "/\\evil.example" arrives as
# "//evil.example": another site. A path with none of them cannot turn into one.
_NOT_IN_A_PATH = re.compile("[\x00-\x1f\x7f-\x9f\\\\\ud800-\udfff]")
_PRINTABLE_ASCII = "".join(chr(c) for c in range(0x21, 0x7F))


def safe_next(target: str | None) -> str:
    """Where to go after logging in: ``target`` if it is a path on this site, else the channel list.

    A same-site path starts with one "/" (not "//"), and holds no control character, backslash or
    unpaired surrogate. Spaces and non-ASCII characters are percent-encoded, so the Location header
    is plain ASCII whatever was asked for (no open redirect, no header injection).
    """
    if not target or not target.startswith("/") or target.startswith("//") or _NOT_IN_A_PATH.search(target):
        return url_for("pages.index")
    return quote(target, safe=_PRINTABLE_ASCII)


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | str | tuple[str, int]:
    """GET shows the form; POST checks the token and sets an HttpOnly, SameSite=Strict cookie."""
    token = web().config.auth_token
    if not token:
        return redirect(url_for("pages.index"))
    next_url = safe_next(request.values.get("next"))
    if request.method == "GET":
        return render_template("login.html", next_url=next_url, error=None)
    origin = request.headers.get("Origin")
    if origin is not None and not web().hosts.allows_origin(origin):
        abort(403, description=f"cross-site login refused (Origin {origin!r})")
    if not hmac.compare_digest(request.form.get("csrf", "").encode(), csrf_token().encode()):
        abort(403, description="missing or stale form token: reload the page and try again")
    given = request.form.get("token", "")
    if not hmac.compare_digest(given.encode("utf-8"), token.encode("utf-8")):
        return render_template("login.html", next_url=next_url, error="That is not this relay's token."), 403
    response = make_response(redirect(next_url))
    response.set_cookie(SESSION_COOKIE, session_value(token), httponly=True, samesite="Strict", path="/")
    return response
