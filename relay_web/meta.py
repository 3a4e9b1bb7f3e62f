"""``/healthz`` for liveness checks and ``/openapi.json`` describing the API."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response

from relay_web.openapi import openapi_spec
from relay_web.state import web

bp = Blueprint("meta", __name__)


@bp.get("/healthz")
def healthz() -> Response:
    """``ok`` as plain text, as the original relay answered."""
    return Response("ok", mimetype="text/plain")


@bp.get("/openapi.json")
def openapi() -> dict[str, Any]:
    """The OpenAPI 3.1 description of the HTTP API."""
    return openapi_spec(web().config.max_message_bytes)
