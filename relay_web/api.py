"""The JSON API for scripts and the original relay's clients: /api/channels, /api/messages and more."""

from __future__ import annotations

import json
import re
from typing import Any

from flask import Blueprint, request

from relay_web.security import check_write
from relay_web.state import web
from shared.errors import InvalidInput
from shared.models import API_LIMIT_MAX, DEFAULT_LIMIT, normalize_target
from shared.search import SEARCH_LIMIT_MAX

bp = Blueprint("api", __name__, url_prefix="/api")


# A whole number as JSON writes it, in ASCII digits; "10.0" is the whole number 10 (JSON Schema's
# "integer", and how schemathesis writes it). int() alone would also take " 5", "1_000" and "٣".
_WHOLE_NUMBER = re.compile(r"(-?[0-9]+)(?:\.0+)?", re.ASCII)


def int_arg(name: str, rule: str) -> int | None:
    """A whole-number query parameter, None when absent or empty; anything else: a 400 naming the rule."""
    raw = request.args.get(name)
    if raw is None or raw == "":
        return None
    match = _WHOLE_NUMBER.fullmatch(raw)
    if match is None:
        raise InvalidInput(f"{name}={raw!r} is not valid: {name} must be {rule}, written in digits 0-9")
    return int(match.group(1))


@bp.get("/channels")
def channels() -> dict[str, Any]:
    """Seed channels plus every channel with messages, with count, latest id and last sender."""
    return web().relay.channels()


@bp.get("/messages")
def messages() -> dict[str, Any]:
    """The last ``limit`` messages of ``target``; with ``since_id`` the ones after it; with ``before_id``
    the ones before it. Always oldest first."""
    relay = web().relay
    target = normalize_target(request.args.get("target", ""))
    limit = int_arg("limit", f"a whole number from 1 to {API_LIMIT_MAX}")
    limit = DEFAULT_LIMIT if limit is None else limit
    since_id = int_arg("since_id", "a message id (a whole number >= 0)")
    before_id = int_arg("before_id", "a message id (a whole number >= 1)")
    if since_id is not None and before_id is not None:
        raise InvalidInput("give since_id (newer messages) or before_id (older messages), not both")
    if since_id is not None:
        found, has_more = relay.after(target, since_id, limit, API_LIMIT_MAX)
        latest = found[-1]["id"] if found else since_id
    else:
        if before_id is not None:
            found, has_more = relay.before(target, before_id, limit, API_LIMIT_MAX)
        else:
            found, has_more = relay.latest(target, limit, API_LIMIT_MAX)
        latest = found[-1]["id"] if found else 0
    return {"target": target, "messages": found, "latest_id": latest, "has_more": has_more}


@bp.get("/search")
def search() -> dict[str, Any]:
    """Messages holding every word of ``q``, newest first, in ``target`` or every channel."""
    limit = int_arg("limit", f"a whole number from 1 to {SEARCH_LIMIT_MAX}")
    target = request.args.get("target") or None
    return web().relay.search(request.args.get("q", ""), target=target, limit=limit)


@bp.get("/presence")
def presence() -> dict[str, Any]:
    """Who is active in ``target``: each identity's last post, read position and whether it waits now."""
    return web().relay.presence(request.args.get("target", ""))


@bp.post("/messages")
def post_message() -> tuple[dict[str, Any], int]:
    """Post ``{"target", "sender", "text"}`` (optional ``reply_to``); 201 with the stored record."""
    source = check_write()
    try:
        body = json.loads(request.get_data())
    except RecursionError:  # json's parser recurses once per level: 100,000 "[" would be a 500
        raise InvalidInput(
            "the request body nests JSON arrays or objects too deeply; send one flat object: "
            '{"target": ..., "sender": ..., "text": ...}'
        ) from None
    except ValueError as exc:
        raise InvalidInput(f"the request body is not valid JSON ({exc})") from None
    if not isinstance(body, dict):
        raise InvalidInput(
            'the request body must be a JSON object: {"target": ..., "sender": ..., "text": ...}'
        )
    record = web().relay.post(
        body.get("target", ""),
        body.get("text", ""),
        body.get("sender", ""),
        source=source,
        reply_to=body.get("reply_to"),
    )
    return {"ok": True, "posted": record["id"], "message": record}, 201
