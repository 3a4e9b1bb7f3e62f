"""The relay's exceptions. Each front end maps them once: MCP tool errors, HTTP status codes, CLI errors."""

from __future__ import annotations


class RelayError(Exception):
    """Base class of every error the relay raises on purpose; its text is shown to users as is."""


class InvalidInput(RelayError, ValueError):
    """An argument broke a documented rule (HTTP 400)."""


class InvalidTarget(InvalidInput):
    """A channel name that is not 1-64 letters, digits, '.', '_' or '-' starting with a letter or digit."""


class InvalidSender(InvalidInput):
    """A sender that is blank, too long or contains control characters."""


class InvalidText(InvalidInput):
    """A message text that is blank or not text."""


class MessageTooLarge(InvalidInput):
    """A message text over ``max_message_bytes`` (HTTP 413)."""


class ChannelNotFound(RelayError, LookupError):
    """A channel that has no messages and is not a seed channel (HTTP 404)."""


class MessageNotFound(RelayError, LookupError):
    """A message id that a channel does not hold (HTTP 404)."""


class StoreBusy(RelayError, TimeoutError):
    """The channel lock could not be had within the configured bound (HTTP 503)."""


class StoreError(RelayError, OSError):
    """The store could not read or write its files: full disk, permissions, a symlinked channel file."""


class ConfigError(RelayError):
    """A configuration value that cannot be used; the text names the key and where it came from."""


class StoreUnavailable(StoreError):
    """The store's server (PostgreSQL) cannot be reached right now; nothing was done (HTTP 503)."""
