"""The two rotating logs: tool calls (``claude_codex.log``) and the archive of every message
(``channel_messages.log``), shared by every relay process at once.

The standard library's RotatingFileHandler renames files without coordinating with other processes,
so concurrent writers lose lines at rotation; concurrent-log-handler takes a lock around each write
and rollover, which is what several agents' servers, the viewer and the CLI writing one file need.

That lock, the size check and the write cost ~35 us a line, and a LogRecord ~15 us more, so a tool call
only puts a tuple on a queue (~1 us). One background thread per process formats and writes the lines,
starting a moment (``BATCH_DELAY_S``) after the first one of a batch, when the call's answer is on
its way rather than competing with it for the interpreter. Warnings and errors of the relay's
loggers join the same queue. What is queued is written at exit, on SIGTERM and by :func:`flush_logs`;
a process killed with SIGKILL loses the lines of its last moment (the messages themselves are in the
channel files before any call returns). Tool-call and archive lines go only to these files, and only
once :func:`setup_logging` has named them; they do not pass through the ``logging`` module.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import queue
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from concurrent_log_handler import ConcurrentRotatingFileHandler

from shared.config import Config
from shared.errors import StoreError
from shared.fsutil import FILE_MODE, private_mkdir
from shared.models import Message

RELAY_LOGGER = "relay"
TOOLS_LOGGER = "relay.tools"
_FORMAT = "%(asctime)s %(levelname)s [%(process)d %(name)s] %(message)s"
_OURS = "_relay_handler"
BATCH_DELAY_S = 0.02
EXIT_WAIT_S = 5.0  # the longest an exiting process waits for a locked log file
_TOOLS, _ARCHIVE = 0, 1  # which file a queued line goes to


def _rotating(path: Path, max_bytes: int, backups: int) -> logging.Handler:
    """A rotating file shared with other processes, written with lines formatted by the writer."""
    try:
        private_mkdir(path.parent)
        # chmod: the log, its rotations and the handler's own .lock file are created (or set) 0600.
        handler = ConcurrentRotatingFileHandler(
            str(path), maxBytes=max_bytes, backupCount=backups, encoding="utf-8", chmod=FILE_MODE
        )
    except OSError as exc:
        raise StoreError(
            f"cannot open the log file {path} ({exc.strerror or exc}); set log_path/channel_log_path "
            "to a writable place or fix the folder's permissions"
        ) from None
    handler.setFormatter(logging.Formatter("%(message)s"))
    return handler


_Line = tuple[int, float, Any]
"""(file, time, what): a tool call's (name, fields), an archived record, or a formatted log line."""


def _text(line: _Line, formatter: logging.Formatter) -> str:
    kind, created, what = line
    if kind == _ARCHIVE:
        return json.dumps(what, ensure_ascii=False)
    if isinstance(what, str):
        return what
    name, fields = what
    record = logging.makeLogRecord(
        {"name": TOOLS_LOGGER, "levelname": "INFO", "created": created, "process": os.getpid()}
    )
    record.msecs = int((created - int(created)) * 1000)
    record.asctime = formatter.formatTime(record)
    record.message = f"{name} {json.dumps(fields, ensure_ascii=False, default=str)}"
    return formatter.formatMessage(record)


class _Writer:
    """The process's log writer: a queue, a thread (started with the first line), the two files."""

    def __init__(self) -> None:
        self.files: tuple[logging.Handler, logging.Handler] | None = None
        self.formatter = logging.Formatter(_FORMAT)
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        # Also a forked child's first step: the parent's thread did not come along, its locks may be
        # held by threads that do not exist here, and the lines it queued are the parent's to write.
        self.guard = threading.Lock()
        self.lines: queue.SimpleQueue[_Line | None] = queue.SimpleQueue()
        self.wake = threading.Event()
        self.thread: threading.Thread | None = None

    def put(self, line: _Line) -> None:
        if self.files is None:
            return  # logging was not set up (library use): no log files
        if self.thread is None:
            with self.guard:
                if self.thread is None and self.files is not None:
                    self._start_thread()
        self.lines.put(line)

    def start(self, tools: logging.Handler, archive: logging.Handler) -> None:
        """Write to these files from now on (lines queued before go to the files they were meant for)."""
        with self.guard:
            self._stop_thread()
            old, self.files = self.files, (tools, archive)
            for handler in old or ():
                handler.close()

    def flush(self, timeout_s: float | None = None) -> bool:
        """Write every queued line; False if that took longer than ``timeout_s`` (a log file locked)."""
        with self.guard:
            return self._stop_thread(timeout_s)

    def stop(self) -> None:
        """At exit: write what is queued (waiting at most EXIT_WAIT_S for the files), then close them."""
        if not self.guard.acquire(timeout=EXIT_WAIT_S):
            return
        try:
            if not self._stop_thread(EXIT_WAIT_S):
                sys.stderr.write("relay: some log lines were not written: the log file stayed locked\n")
            for handler in self.files or ():
                handler.close()
            self.files = None
        finally:
            self.guard.release()

    def _start_thread(self) -> None:
        self.wake.clear()
        self.thread = threading.Thread(
            target=self._run, args=(self.files,), name="relay-log-writer", daemon=True
        )
        self.thread.start()

    def _stop_thread(self, timeout_s: float | None = None) -> bool:
        """End the thread once it has written everything queued; the next line starts a new one."""
        if self.thread is None:
            return True
        self.lines.put(None)
        self.wake.set()
        self.thread.join(timeout_s)
        done = not self.thread.is_alive()
        self.thread = None  # a stuck thread is left to finish on its own (it is a daemon)
        return done

    def _run(self, files: tuple[logging.Handler, logging.Handler]) -> None:
        while True:
            batch = [self.lines.get()]
            if batch[0] is not None:
                self.wake.wait(BATCH_DELAY_S)
            while True:
                try:
                    batch.append(self.lines.get_nowait())
                except queue.Empty:
                    break
            for line in batch:
                if line is not None:
                    self._write(files, line)
            if None in batch:
                return

    def _write(self, files: tuple[logging.Handler, logging.Handler], line: _Line) -> None:
        try:
            text = _text(line, self.formatter)
        except Exception:  # noqa: BLE001 (a line that cannot be formatted must not stop the writer)
            text = f"unloggable {line[2]!r:.200}"
        files[line[0]].handle(logging.makeLogRecord({"msg": text, "levelno": logging.INFO}))


_WRITER = _Writer()
atexit.register(_WRITER.stop)


def _flush_then_die(signum: int, frame: object) -> None:
    """SIGTERM: write the queued log lines (briefly), then end as SIGTERM ends a process."""
    _WRITER.stop()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


class _ToWriter(logging.Handler):
    """Sends the relay loggers' records (warnings, errors) to the writer, formatted like tool lines."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            _WRITER.put((_TOOLS, record.created, self.format(record)))
        except Exception:  # noqa: BLE001 (logging's own rule: a failing handler reports, never raises)
            self.handleError(record)


def flush_logs() -> None:
    """Write every queued log line now (they are otherwise written a moment later, and at exit)."""
    _WRITER.flush()


def setup_logging(config: Config, stderr_level: int = logging.WARNING) -> None:
    """Send the relay's log lines to the rotating log files and warnings to stderr (never stdout).

    Safe to call again: handlers from an earlier call are replaced (their lines written), not added twice.
    """
    relay = logging.getLogger(RELAY_LOGGER)
    for handler in [h for h in relay.handlers if getattr(h, _OURS, False)]:
        relay.removeHandler(handler)
        handler.close()
    tools_file = _rotating(config.log_path, config.log_max_bytes, config.log_backup_count)
    # The archive holds one JSON record per line, so it is easy to grep and to replay.
    archive_file = _rotating(
        config.channel_log_path, config.channel_log_max_bytes, config.channel_log_backup_count
    )
    _WRITER.start(tools_file, archive_file)
    if (
        threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    ):
        signal.signal(signal.SIGTERM, _flush_then_die)  # so `kill` (and service managers) lose no lines
    relay.setLevel(logging.INFO)
    relay.propagate = False
    forward = _ToWriter()
    forward.setFormatter(_WRITER.formatter)  # the tool lines' format
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setLevel(stderr_level)
    stderr.setFormatter(logging.Formatter("relay: %(levelname)s %(message)s"))
    for handler in (forward, stderr):
        setattr(handler, _OURS, True)
        relay.addHandler(handler)
    # The PostgreSQL driver's pool reports every connection an outage broke; the relay says what
    # matters itself ("store unavailable"), so these go to the log file only, not to stderr.
    driver = logging.getLogger("psycopg")
    for handler in [h for h in driver.handlers if getattr(h, _OURS, False)]:
        driver.removeHandler(handler)
    driver.addHandler(forward)
    driver.propagate = False


def log_tool_call(name: str, **fields: Any) -> None:
    """One line in the tool-call log, e.g. ``post_message {"id": 3, "target": "proj-x", ...}``."""
    _WRITER.put((_TOOLS, time.time(), (name, fields)))


def archive_message(record: Message) -> None:
    """Append a posted message, with its ``source``, to the channel archive log."""
    _WRITER.put((_ARCHIVE, 0.0, dict(record)))  # a copy: the caller may change its record later
