"""Where messages and read positions live: the interfaces (``base``) and the one factory that picks a
backend from the configuration. Nothing outside this package imports a backend module."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from shared.errors import ConfigError
from shared.models import DEFAULT_MAX_MESSAGE_BYTES
from shared.storage.base import MessageStore, Subscription

__all__ = ["MessageStore", "Subscription", "check_store", "is_database_url", "open_store"]

if TYPE_CHECKING:
    from shared.storage.report import CheckReport

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
                "pip install 'claude-codex-relay[postgres]' "
                "(or: pipx inject claude-codex-relay 'psycopg[binary,pool]')"
            ) from None
        return PostgresStore(str(location), max_message_bytes=max_message_bytes, timeout_s=lock_timeout_s)
    from shared.storage.files.store import FileStore

    return FileStore(
        Path(location), max_message_bytes=max_message_bytes, lock_timeout_s=lock_timeout_s, fsync=fsync
    )


def check_store(store: MessageStore, targets: Sequence[str] = (), *, repair: bool = False) -> CheckReport:
    """``relay check`` on any store: torn or bad lines for the files, counters for PostgreSQL."""
    if store.blocking:
        from shared.storage.postgres.check import check_database

        return check_database(store, targets, repair=repair)
    from shared.storage.files.check import check_store as check_files
    from shared.storage.files.store import FileStore

    assert isinstance(store, FileStore)
    return check_files(store, targets, repair=repair)
