"""What every blueprint needs from the running app, kept in ``app.extensions`` (no module globals)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from relay_web.hosts import HostRules
from relay_web.render import Renderer
from shared.config import Config
from shared.relay import Relay

EXTENSION = "relay_web"


@dataclass(frozen=True)
class WebState:
    """The relay, its configuration and the helpers the views share."""

    config: Config
    relay: Relay
    renderer: Renderer
    hosts: HostRules
    default_sender: str
    code_css: str


def web() -> WebState:
    """The state of the app handling the current request."""
    state: WebState = current_app.extensions[EXTENSION]
    return state
