"""What every program (relay-stdio, relay-web, relay) does with its store before it serves."""

from __future__ import annotations

import logging
import re
from pathlib import Path

from shared.config import Config
from shared.errors import StoreError
from shared.logs import setup_logging
from shared.privacy import tighten_store
from shared.relay import Relay

log = logging.getLogger("relay.startup")


def describe_store(config: Config) -> str:
    """Where this configuration keeps its messages: the ``store`` URL when one is set, else the data dir.

    ``relay-stdio --print-config`` reports it and ``relay doctor`` compares it across agents. A password
    in a URL is never shown.
    """
    store = getattr(config, "store", None)  # the store key (PostgreSQL) arrives with the storage seam
    if not store:
        return str(config.data_dir)
    return re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", str(store))


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

    Raises:
        StoreError: the data dir or a log file cannot be written.
    """
    refuse_file_as_data_dir(relay.config.data_dir)
    relay.store.ensure_writable()
    tightened = tighten_store(relay.config).message(relay.config.data_dir)
    setup_logging(relay.config)
    if tightened:
        log.warning(tightened)
