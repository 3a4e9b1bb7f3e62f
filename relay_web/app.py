"""The Flask application factory."""

from __future__ import annotations

import getpass
import logging
import secrets
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from flask import Flask, request
from flask.json.provider import DefaultJSONProvider

from relay_web import api, auth, browse, mcp, meta, pages, security
from relay_web.errors import register_error_handlers
from relay_web.hosts import HostRules
from relay_web.render import Renderer
from relay_web.state import EXTENSION, WebState
from shared import __version__
from shared.config import Config
from shared.errors import ConfigError, InvalidInput
from shared.models import normalize_sender
from shared.records import json_text
from shared.relay import Relay

log = logging.getLogger("relay.web")
_ExcInfo = tuple[type[BaseException], BaseException, TracebackType] | tuple[None, None, None]

# JSON may escape one text byte as up to six ("<" as "\u003c"), plus room for the other fields.
BODY_OVERHEAD = 64 * 1024


def body_limit(max_message_bytes: int) -> int:
    """The largest request body accepted: any JSON encoding of a maximal message fits."""
    return 6 * max_message_bytes + BODY_OVERHEAD


class StandardJSONProvider(DefaultJSONProvider):
    """Flask's JSON, but always standard JSON: a record another tool wrote with ``NaN`` or ``1e400``
    in a field is answered with ``null`` there, not with ``NaN``, which ``JSON.parse`` refuses."""

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        kwargs.setdefault("default", self.default)
        kwargs.setdefault("ensure_ascii", self.ensure_ascii)
        kwargs.setdefault("sort_keys", self.sort_keys)
        return json_text(obj, **kwargs)


class RelayFlask(Flask):
    """Flask, with standard JSON and with unexpected errors logged to the relay's log file.

    Flask logs an exception it did not expect to its own logger, which writes only to stderr: a
    viewer started by a service manager or in the background would lose why a request answered 500.
    """

    json_provider_class = StandardJSONProvider

    def log_exception(self, exc_info: _ExcInfo) -> None:
        log.error("%s %s failed with an unexpected error", request.method, request.path, exc_info=exc_info)


def _default_sender(config: Config) -> str:
    """Who the composer posts as until the reader types a name: config ``sender``, else the login."""
    if config.sender:
        return config.sender
    try:
        return normalize_sender(getpass.getuser())
    except (OSError, KeyError, InvalidInput):
        return "human"


def create_app(
    config: Config, test_config: Mapping[str, Any] | None = None, relay: Relay | None = None
) -> Flask:
    """Build the viewer and API for one store.

    Args:
        config: the resolved configuration (data dir, allowed hosts, auth token, limits).
        test_config: Flask settings to override (e.g. ``{"TESTING": True}``).
        relay: the relay to serve; one on ``config`` when omitted.

    Raises:
        ConfigError: an ``allowed_hosts`` entry cannot be parsed.
    """
    app = RelayFlask(__name__)
    app.config.update(
        SECRET_KEY=secrets.token_bytes(32),  # per process: CSRF tokens of an old process stop working
        MAX_CONTENT_LENGTH=body_limit(config.max_message_bytes),
        JSON_SORT_KEYS=False,
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]
    if test_config:
        app.config.update(test_config)
    try:
        hosts = HostRules(config.allowed_hosts)
    except ValueError as exc:
        raise ConfigError(f"allowed_hosts: {exc}") from None
    app.extensions[EXTENSION] = WebState(
        config=config,
        relay=relay or Relay(config),
        renderer=Renderer(),
        hosts=hosts,
        default_sender=_default_sender(config),
        code_css=pages.pygments_css(),
    )
    for blueprint in (security.bp, api.bp, pages.bp, browse.bp, meta.bp, auth.bp):
        app.register_blueprint(blueprint)
    mcp.register(app, app.extensions[EXTENSION].relay)
    register_error_handlers(app)
    app.jinja_env.globals.update(
        version=__version__, csrf_token=security.csrf_token, data_dir=str(config.data_dir)
    )
    return app
