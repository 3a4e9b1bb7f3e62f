"""The OpenAPI 3.1 description served at /openapi.json (docs/http-api.md says the same in prose)."""

from __future__ import annotations

from typing import Any

from shared import __version__
from shared.models import API_LIMIT_MAX, DEFAULT_LIMIT

_ERROR = {"$ref": "#/components/schemas/Error"}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR}}}


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _id_param(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "description": description,
        "schema": {"type": "integer", "minimum": 0},
    }


def openapi_spec(max_message_bytes: int) -> dict[str, Any]:
    """The API description, with this relay's message size limit filled in."""
    message = {
        "type": "object",
        "required": ["id", "ts", "target", "sender", "text"],
        "properties": {
            "id": {"type": "integer", "description": "per channel, 1, 2, 3... in order"},
            "ts": {"type": "number", "description": "epoch seconds"},
            "target": {"type": "string"},
            "sender": {"type": "string"},
            "text": {"type": "string", "description": "Markdown"},
            "source": {"type": "string", "enum": ["mcp", "web-ui", "cli", "api"]},
            "reply_to": {"type": "integer"},
        },
        "additionalProperties": True,
    }
    page = {
        "type": "object",
        "properties": {
            "target": {"type": "string"},
            "messages": {"type": "array", "items": {"$ref": "#/components/schemas/Message"}},
            "latest_id": {"type": "integer"},
            "has_more": {"type": "boolean"},
        },
    }
    details = {
        "type": "object",
        "properties": {
            "target": {"type": "string"},
            "count": {"type": "integer"},
            "latest_id": {"type": "integer"},
            "last_ts": {"type": ["number", "null"]},
            "last_sender": {"type": ["string", "null"]},
        },
    }
    new_message = {
        "type": "object",
        "required": ["target", "sender", "text"],
        "properties": {
            "target": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"},
            "sender": {"type": "string", "maxLength": 64},
            "text": {"type": "string", "description": f"at most {max_message_bytes} bytes of UTF-8"},
            "reply_to": {"type": "integer", "minimum": 0},
        },
    }
    refused = _error("refused: Host not allowed, or a cross-site / CSRF-less browser write")
    return {
        "openapi": "3.1.0",
        "info": {"title": "claude-codex-relay", "version": __version__},
        "paths": {
            "/api/channels": {
                "get": {
                    "summary": "List channels: seed channels plus every channel with messages",
                    "responses": {
                        "200": _json(
                            "the channels, sorted, with details",
                            {
                                "type": "object",
                                "properties": {
                                    "channels": {"type": "array", "items": {"type": "string"}},
                                    "details": {"type": "array", "items": details},
                                },
                            },
                        ),
                        "403": refused,
                    },
                }
            },
            "/api/messages": {
                "get": {
                    "summary": "Read a channel, oldest first",
                    "parameters": [
                        {"name": "target", "in": "query", "required": True, "schema": {"type": "string"}},
                        {
                            "name": "limit",
                            "in": "query",
                            "description": f"1..{API_LIMIT_MAX} (clamped)",
                            "schema": {"type": "integer", "default": DEFAULT_LIMIT},
                        },
                        _id_param("since_id", "messages with id > since_id (the first `limit` of them)"),
                        _id_param("before_id", "messages with id < before_id (the last `limit` of them)"),
                    ],
                    "responses": {
                        "200": _json("a page of messages", page),
                        "400": _error("a bad target, limit or id"),
                        "403": refused,
                    },
                },
                "post": {
                    "summary": "Post a message",
                    "security": [{}, {"bearer": []}],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": new_message}},
                    },
                    "responses": {
                        "201": _json(
                            "posted",
                            {
                                "type": "object",
                                "properties": {
                                    "ok": {"const": True},
                                    "posted": {"type": "integer"},
                                    "message": {"$ref": "#/components/schemas/Message"},
                                },
                            },
                        ),
                        "400": _error("invalid JSON or a field that breaks a rule"),
                        "401": _error("auth_token is set and the Bearer token is missing or wrong"),
                        "403": refused,
                        "413": _error("the body or the text is too large"),
                        "415": _error("the body is not application/json"),
                        "503": _error("store busy: retry shortly"),
                    },
                },
            },
            "/healthz": {
                "get": {
                    "summary": "Liveness",
                    "responses": {
                        "200": {"description": "ok", "content": {"text/plain": {"schema": {"const": "ok"}}}}
                    },
                }
            },
            "/openapi.json": {
                "get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3.1"}}}
            },
        },
        "components": {
            "schemas": {
                "Message": message,
                "Error": {
                    "type": "object",
                    "properties": {"ok": {"const": False}, "error": {"type": "string"}},
                },
            },
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
