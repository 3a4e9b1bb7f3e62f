"""What every program (relay-stdio, relay-web, relay) does with its store before it serves."""

from __future__ import annotations

import logging
from pathlib import Path

from shared.config import Config, mask_password
from shared.errors import StoreError
from shared.fsutil import private_mkdir
from shared.logs import setup_logging
from shared.privacy import tighten_store
from shared.relay import Relay

log = logging.getLogger("relay.startup")


def describe_store(config: Config) -> str:
    """Where this configuration keeps its messages: the ``store`` URL when one is set, else the data dir.

    ``relay-stdio --print-config`` reports it and ``relay doctor`` compares it across agents. A password
    in a URL is never shown.
    """
    return mask_password(config.store) if config.store else str(config.data_dir)


def refuse_file_as_data_dir(data_dir: Path) -> None:
    """Name a data dir that is a file as such: creating folders in it fails with "Not a directory"."""
    existing = next((p for p in (data_dir, *data_dir.parents) if p.exists()), None)
    if existing is None or existing.is_dir():
        return
    problem = "is a file" if existing == data_dir else f"cannot be created: {existing} is a file"
    raise StoreError(
        f"data dir {data_dir} {problem}, not a folder; choose another with --data-dir or "
        "CLAUDE_CODEX_DATA_DIR (or move the file away)"
    )


def prepare_store(relay: Relay) -> None:
    """Prove the store writable, make an older store private, open the log files, and say what changed.

    The store is checked first, so an unwritable one is named as such, not as a log file inside it;
    modes are tightened before the log files are opened, so the line counts them too. The line goes
    to stderr and the log (never stdout: it is relay-stdio's MCP wire).

    A database store that cannot be reached (or used) yet does not stop the program: it starts, says
    why in one warning, and each call answers with the store's clear error until the database is back,
    so a client still shows the server and the model can tell the person.

    Raises:
        StoreError: the data dir (the file store, or the logs and hook state of a database store) or a
            log file cannot be written.
    """
    refuse_file_as_data_dir(relay.config.data_dir)
    unavailable: StoreError | None = None
    if relay.store.blocking:
        try:
            private_mkdir(relay.config.data_dir)
        except OSError as exc:
            raise StoreError(
                f"data dir {relay.config.data_dir} (logs and hook state) cannot be created: "
                f"{exc.strerror or exc}; choose another with --data-dir or CLAUDE_CODEX_DATA_DIR"
            ) from None
        try:
            relay.store.ensure_ready()
        except StoreError as exc:
            unavailable = exc
    else:
        relay.store.ensure_ready()
    tightened = tighten_store(relay.config).message(relay.config.data_dir)
    setup_logging(relay.config)
    if tightened:
        log.warning(tightened)
    if unavailable is not None:
        log.warning("%s (starting anyway; every call answers this until the store is back)", unavailable)
