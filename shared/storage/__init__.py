"""Where messages and read positions live: the interfaces (``base``) and the one factory that picks a
backend from the configuration. Nothing outside this package imports a backend module."""

from __future__ import annotations

from pathlib import Path

from shared.errors import ConfigError
from shared.models import DEFAULT_MAX_MESSAGE_BYTES
from shared.storage.base import MessageStore, Subscription

__all__ = ["MessageStore", "Subscription", "is_database_url", "open_store"]

_DB_SCHEMES = ("postgresql://", "postgres://")


def is_database_url(location: str | Path) -> bool:
    """Whether ``location`` names a PostgreSQL database rather than a data folder."""
    return isinstance(location, str) and location.startswith(_DB_SCHEMES)


def open_store(
    location: str | Path,
    *,
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    lock_timeout_s: float = 10.0,
    fsync: bool = False,
) -> MessageStore:
    """The store at ``location``: a ``postgresql://`` URL, or else the folder of the JSONL file store.

    Raises:
        ConfigError: a PostgreSQL URL while psycopg (the ``postgres`` extra) is not installed.
    """
    if is_database_url(location):
        try:
            from shared.storage.postgres.store import PostgresStore
        except ImportError:
            raise ConfigError(
                "store is a PostgreSQL URL, but psycopg is not installed: "
                "pip install 'claude-codex-relay[postgres]' (or pipx inject claude-codex-relay 'psycopg[binary,pool]')"
            ) from None
        return PostgresStore(str(location), max_message_bytes=max_message_bytes, timeout_s=lock_timeout_s)
    from shared.storage.files.store import FileStore

    return FileStore(Path(location), max_message_bytes=max_message_bytes, lock_timeout_s=lock_timeout_s, fsync=fsync)
