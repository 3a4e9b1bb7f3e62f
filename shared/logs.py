"""The two rotating logs: tool calls (``claude_codex.log``) and the archive of every message
(``channel_messages.log``), shared by every relay process at once.

The standard library's RotatingFileHandler renames files without coordinating with other processes,
so concurrent writers lose lines at rotation; concurrent-log-handler takes a lock around each write
and rollover, which is what several agents' servers, the viewer and the CLI writing one file need.

That lock, the size check and the write cost ~35 us a line and can wait on another process, so the
files are written by one background thread per process (the logging cookbook's QueueHandler and
QueueListener): a tool call only queues its lines. What is queued is written at exit and by
:func:`flush_logs`; a process killed with SIGKILL loses the lines of its last moments (the messages
themselves are in the channel files before any call returns).
"""

from __future__ import annotations

import atexit
import json
import logging
import queue
import sys
import threading
from logging.handlers import QueueHandler, QueueListener
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


class _Writer:
    """The process's background log writer: one queue, one thread, both files."""

    def __init__(self) -> None:
        self.guard = threading.Lock()
        self.listener: QueueListener | None = None

    def start(self, records: queue.SimpleQueue[logging.LogRecord], *handlers: logging.Handler) -> None:
        with self.guard:
            self._stop()
            self.listener = QueueListener(records, *handlers, respect_handler_level=True)
            self.listener.start()

    def flush(self) -> None:
        with self.guard:
            if self.listener is not None:
                self.listener.stop()  # writes everything queued, then ends the thread
                self.listener.start()

    def stop(self) -> None:
        with self.guard:
            self._stop()

    def _stop(self) -> None:
        if self.listener is not None:
            self.listener.stop()
            for handler in self.listener.handlers:
                handler.close()
            self.listener = None


_WRITER = _Writer()
atexit.register(_WRITER.stop)


def flush_logs() -> None:
    """Write every queued log line now (they are otherwise written a moment later, and at exit)."""
    _WRITER.flush()


def setup_logging(config: Config, stderr_level: int = logging.WARNING) -> None:
    """Send the relay's loggers to the rotating log files and warnings to stderr (never stdout).

    Safe to call again: handlers from an earlier call are replaced (their lines written), not added twice.
    """
    relay = logging.getLogger(RELAY_LOGGER)
    archive = logging.getLogger(ARCHIVE_LOGGER)
    for logger in (relay, archive):
        for handler in [h for h in logger.handlers if getattr(h, _OURS, False)]:
            logger.removeHandler(handler)
            handler.close()
    tools_file = _rotating(config.log_path, config.log_max_bytes, config.log_backup_count, _FORMAT)
    # The archive holds one JSON record per line, so it is easy to grep and to replay.
    archive_file = _rotating(
        config.channel_log_path, config.channel_log_max_bytes, config.channel_log_backup_count, "%(message)s"
    )
    tools_file.addFilter(lambda record: not record.name.startswith(ARCHIVE_LOGGER))
    archive_file.addFilter(lambda record: record.name.startswith(ARCHIVE_LOGGER))
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    _WRITER.start(records, tools_file, archive_file)
    for logger in (relay, archive):
        logger.setLevel(logging.INFO)
        logger.propagate = False
        queued = QueueHandler(records)
        setattr(queued, _OURS, True)
        logger.addHandler(queued)
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setLevel(stderr_level)
    stderr.setFormatter(logging.Formatter("relay: %(levelname)s %(message)s"))
    setattr(stderr, _OURS, True)
    relay.addHandler(stderr)


def log_tool_call(name: str, **fields: Any) -> None:
    """One line in the tool-call log, e.g. ``post_message {"id": 3, "target": "proj-x", ...}``."""
    logging.getLogger(TOOLS_LOGGER).info("%s %s", name, json.dumps(fields, ensure_ascii=False, default=str))


def archive_message(record: Message) -> None:
    """Append a posted message, with its ``source``, to the channel archive log."""
    logging.getLogger(ARCHIVE_LOGGER).info("%s", json.dumps(record, ensure_ascii=False))
