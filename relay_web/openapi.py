"""The OpenAPI 3.1 description served at /openapi.json (docs/http-api.md says the same in prose)."""

from __future__ import annotations

from typing import Any

from shared import __version__
from shared.models import API_LIMIT_MAX, DEFAULT_LIMIT, MAX_ID
from shared.search import QUERY_MAX_CHARS, SEARCH_DEFAULT_LIMIT, SEARCH_LIMIT_MAX

_ERROR = {"$ref": "#/components/schemas/Error"}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR}}}


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _id_param(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "description": f"{description}; empty is the same as absent",
        "allowEmptyValue": True,
        "schema": {"type": "integer", "minimum": 0, "maximum": MAX_ID},
    }


# The rules of shared/models.py as JSON Schema patterns. Surrounding whitespace is ignored by the
# relay (Python's str.strip), so the patterns allow exactly those characters there, spelled out
# because "\\s" means another set in each regex engine. Control characters (Unicode Cc) are refused,
# though a text may hold tabs and line breaks. Unpaired surrogates (a JSON escape such as "\\ud800")
# are refused too, but are no Unicode text a pattern could name.
_SPACE = "\\t-\\r\\u001c-\\u0020\\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"
_CONTROL = "\\u0000-\\u001f\\u007f-\\u009f"
_TEXT_CONTROL = "\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f"
TARGET_SCHEMA = {
    "type": "string",
    "pattern": f"^[{_SPACE}]*[A-Za-z0-9][A-Za-z0-9._-]{{0,63}}[{_SPACE}]*$",
    "description": "a channel: 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit; "
    "case-insensitive (stored lower-case), surrounding whitespace ignored",
}
_VISIBLE = f"[^{_SPACE}{_CONTROL}]"
SENDER_SCHEMA = {
    "type": "string",
    "pattern": f"^[{_SPACE}]*{_VISIBLE}(?:[^{_CONTROL}]{{0,62}}{_VISIBLE})?[{_SPACE}]*$",
    "description": "who posts: 1 to 64 characters once surrounding whitespace is removed, "
    "no control characters",
}


def _text_schema(max_message_bytes: int) -> dict[str, Any]:
    # Two patterns rather than one: "not blank, no control character" as one regex backtracks
    # quadratically on long texts.
    return {
        "type": "string",
        "minLength": 1,
        "maxLength": max_message_bytes,  # a character is at least one byte
        "allOf": [{"pattern": f"[^{_SPACE}]"}, {"pattern": f"^[^{_TEXT_CONTROL}]*$"}],
        "description": f"Markdown; not blank; at most {max_message_bytes} bytes of UTF-8 (the limit is in "
        "bytes: a longer text is refused with 413); no control characters except tab and line breaks",
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
            "target": TARGET_SCHEMA,
            "sender": SENDER_SCHEMA,
            "text": _text_schema(max_message_bytes),
            "reply_to": {
                "type": ["integer", "null"],
                "minimum": 1,
                "maximum": MAX_ID,
                "description": "the id of the message answered (null: not a reply)",
            },
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
                        {"name": "target", "in": "query", "required": True, "schema": TARGET_SCHEMA},
                        {
                            "name": "limit",
                            "in": "query",
                            "description": f"1..{API_LIMIT_MAX} (clamped); empty is the same as absent",
                            "allowEmptyValue": True,
                            "schema": {"type": "integer", "default": DEFAULT_LIMIT},
                        },
                        _id_param(
                            "since_id",
                            "messages with id > since_id (the first `limit` of them); not with before_id",
                        ),
                        _id_param(
                            "before_id",
                            "messages with id < before_id (the last `limit` of them); not with since_id",
                        ),
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
            **_viewer_paths(refused),
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


def _viewer_paths(refused: dict[str, Any]) -> dict[str, Any]:
    """``/api/search`` and ``/api/presence``: finding messages and seeing who is active."""
    messages = {"type": "array", "items": {"$ref": "#/components/schemas/Message"}}
    member = {
        "type": "object",
        "properties": {
            "identity": {"type": "string"},
            "last_post_id": {"type": ["integer", "null"]},
            "last_post_ts": {"type": ["number", "null"]},
            "read_id": {"type": "integer", "description": "saved read position: has read every id <= it"},
            "waiting_since": {"type": ["number", "null"], "description": "epoch seconds; null: not waiting"},
        },
    }
    target = {"name": "target", "in": "query", "schema": TARGET_SCHEMA}
    return {
        "/api/search": {
            "get": {
                "summary": "Find messages holding every word of q (case-insensitive), newest first",
                "parameters": [
                    {
                        "name": "q",
                        "in": "query",
                        "required": True,
                        "description": f"one or more words, 1 to {QUERY_MAX_CHARS} characters",
                        "schema": {
                            "type": "string",
                            "minLength": 1,
                            "maxLength": QUERY_MAX_CHARS,
                            "pattern": f"[^{_SPACE}]",
                        },
                    },
                    {
                        **target,
                        "description": "search only this channel; empty or absent: every channel",
                        "allowEmptyValue": True,
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "description": f"1..{SEARCH_LIMIT_MAX} (clamped); empty is the same as absent",
                        "allowEmptyValue": True,
                        "schema": {"type": "integer", "default": SEARCH_DEFAULT_LIMIT},
                    },
                ],
                "responses": {
                    "200": _json(
                        "the matches; complete is false when the time budget ran out first",
                        {
                            "type": "object",
                            "properties": {
                                "query": {"type": "string"},
                                "target": {"type": ["string", "null"]},
                                "messages": messages,
                                "complete": {"type": "boolean"},
                            },
                        },
                    ),
                    "400": _error("a blank or too long query, a bad target or limit"),
                    "403": refused,
                },
            }
        },
        "/api/presence": {
            "get": {
                "summary": "Who is active in a channel: last post, read position, waiting now",
                "parameters": [{**target, "required": True}],
                "responses": {
                    "200": _json(
                        "one entry per identity, the most recently active first",
                        {
                            "type": "object",
                            "properties": {
                                "target": {"type": "string"},
                                "latest_id": {"type": "integer"},
                                "members": {"type": "array", "items": member},
                            },
                        },
                    ),
                    "400": _error("a bad target"),
                    "403": refused,
                },
            }
        },
    }
