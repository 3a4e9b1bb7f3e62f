"""The two rotating logs: tool calls (``claude_codex.log``) and the archive of every message
(``channel_messages.log``), shared by every relay process at once.

The standard library's RotatingFileHandler renames files without coordinating with other processes,
so concurrent writers lose lines at rotation; concurrent-log-handler takes a lock around each write
and rollover, which is what several agents' servers, the viewer and the CLI writing one file need.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

from concurrent_log_handler import ConcurrentRotatingFileHandler

from shared.config import Config
from shared.errors import StoreError
from shared.models import Message

RELAY_LOGGER = "relay"
TOOLS_LOGGER = "relay.tools"
ARCHIVE_LOGGER = "relay.archive"
_FORMAT = "%(asctime)s %(levelname)s [%(process)d %(name)s] %(message)s"
_OURS = "_relay_handler"


def _rotating(path: Path, max_bytes: int, backups: int, fmt: str) -> logging.Handler:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler = ConcurrentRotatingFileHandler(
            str(path), maxBytes=max_bytes, backupCount=backups, encoding="utf-8"
        )
    except OSError as exc:
        raise StoreError(
            f"cannot open the log file {path} ({exc.strerror or exc}); set log_path/channel_log_path "
            "to a writable place or fix the folder's permissions"
        ) from None
    handler.setFormatter(logging.Formatter(fmt))
    setattr(handler, _OURS, True)
    return handler


def setup_logging(config: Config, stderr_level: int = logging.WARNING) -> None:
    """Attach the rotating log files and a stderr handler to the relay's loggers (never stdout).

    Safe to call again: handlers from an earlier call are replaced, not added twice.
    """
    relay = logging.getLogger(RELAY_LOGGER)
    archive = logging.getLogger(ARCHIVE_LOGGER)
    for logger in (relay, archive):
        for handler in [h for h in logger.handlers if getattr(h, _OURS, False)]:
            logger.removeHandler(handler)
            handler.close()
    relay.setLevel(logging.INFO)
    relay.propagate = False
    relay.addHandler(_rotating(config.log_path, config.log_max_bytes, config.log_backup_count, _FORMAT))
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setLevel(stderr_level)
    stderr.setFormatter(logging.Formatter("relay: %(levelname)s %(message)s"))
    setattr(stderr, _OURS, True)
    relay.addHandler(stderr)
    # The archive holds one JSON record per line, so it is easy to grep and to replay.
    archive.setLevel(logging.INFO)
    archive.propagate = False
    archive.addHandler(
        _rotating(
            config.channel_log_path,
            config.channel_log_max_bytes,
            config.channel_log_backup_count,
            "%(message)s",
        )
    )


def log_tool_call(name: str, **fields: Any) -> None:
    """One line in the tool-call log, e.g. ``post_message {"id": 3, "target": "proj-x", ...}``."""
    logging.getLogger(TOOLS_LOGGER).info("%s %s", name, json.dumps(fields, ensure_ascii=False, default=str))


def archive_message(record: Message) -> None:
    """Append a posted message, with its ``source``, to the channel archive log."""
    logging.getLogger(ARCHIVE_LOGGER).info("%s", json.dumps(record, ensure_ascii=False))
