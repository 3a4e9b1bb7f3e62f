"""The relay's errors as HTTP responses: JSON ``{"ok": false, "error": ...}`` for the API, else a page."""

from __future__ import annotations

import logging

from flask import Flask, Response, current_app, jsonify, render_template, request
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from relay_web.security import wants_json
from shared.errors import (
    ChannelNotFound,
    InvalidInput,
    MessageNotFound,
    MessageTooLarge,
    RelayError,
    StoreBusy,
    StoreError,
)

log = logging.getLogger("relay.web")

# Most specific first: MessageTooLarge is an InvalidInput.
STATUS_OF: tuple[tuple[type[RelayError], int], ...] = (
    (MessageTooLarge, 413),
    (InvalidInput, 400),
    (ChannelNotFound, 404),
    (MessageNotFound, 404),
    (StoreBusy, 503),
    (StoreError, 500),
)


def _describe(error: HTTPException) -> str:
    code = error.code or 500
    if error.description and error.description != type(error).description:
        return error.description  # our own words, from abort(..., description=...)
    if code == 404:
        return f"no such page or endpoint: {request.path} (the API is described at /openapi.json)"
    if code == 405:
        allowed = ", ".join(sorted(getattr(error, "valid_methods", None) or []))
        return f"{request.method} is not allowed on {request.path}; allowed: {allowed}"
    if code == 413:
        return f"request body is too large; the limit is {current_app.config['MAX_CONTENT_LENGTH']} bytes"
    if code == 500:
        return "internal error; the details are in the relay-web log"
    return error.description or error.name


def error_response(status: int, message: str, base: BaseResponse | None = None) -> Response:
    """A JSON or HTML error response, keeping the headers (Allow, Retry-After...) of ``base``."""
    if wants_json():
        response = jsonify({"ok": False, "error": message})
    else:
        response = Response(
            render_template("error.html", status=status, message=message), mimetype="text/html"
        )
    response.status_code = status
    if base is not None:
        for name, value in base.headers.items():
            if name.lower() not in ("content-type", "content-length"):
                response.headers[name] = value
    return response


def register_error_handlers(app: Flask) -> None:
    """Map werkzeug's HTTP errors and the relay's own exceptions to responses."""

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        if (error.code or 500) >= 500 and getattr(error, "original_exception", None) is None:
            log.error("%s %s failed: %s", request.method, request.path, _describe(error))
        return error_response(error.code or 500, _describe(error), error.get_response())

    @app.errorhandler(RelayError)
    def relay_error(error: RelayError) -> Response:
        status = next((code for kind, code in STATUS_OF if isinstance(error, kind)), 500)
        if status >= 500:
            log.error("%s %s failed: %s", request.method, request.path, error)
        response = error_response(status, str(error))
        if status == 503:
            response.headers["Retry-After"] = "1"
        return response
