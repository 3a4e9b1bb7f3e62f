"""``/healthz`` for liveness, ``/openapi.json`` describing the API and ``/api``, the same for people."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, render_template

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


@bp.get("/api")
def api_docs() -> str:
    """The API description as a page people can read (the footer links here), from the same spec."""
    spec = openapi_spec(web().config.max_message_bytes)
    return render_template("api_docs.html", spec=spec, operations=operations(spec))


def operations(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Every (path, method) of the spec with its summary, parameters, body and responses."""
    found = []
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json", {})
            found.append(
                {
                    "path": path,
                    "method": method.upper(),
                    "summary": operation.get("summary", ""),
                    "parameters": operation.get("parameters", []),
                    "body": body.get("schema", {}).get("properties", {}),
                    "responses": operation.get("responses", {}),
                }
            )
    return found
