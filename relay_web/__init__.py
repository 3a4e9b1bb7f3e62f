"""relay-web: the browser viewer and HTTP API over the relay's store."""

from relay_web.app import create_app

__all__ = ["create_app"]
