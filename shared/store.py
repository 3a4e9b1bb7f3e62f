"""The channel store: one append-only JSONL file per channel, written under a per-channel file lock.

``Store`` is the interface the tools, views and CLI use; ``FileStore`` is the local implementation.
This is the only module that opens channel files or takes their locks.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

import filelock

from shared import jsonl
from shared.errors import StoreBusy, StoreError
from shared.models import (
    DEFAULT_MAX_MESSAGE_BYTES,
    ChannelStats,
    Message,
    normalize_sender,
    normalize_target,
    validate_id,
    validate_text,
)

log = logging.getLogger("relay.store")

CHANNELS_DIR = "channels"
LOCKS_DIR = "locks"
SUFFIX = ".jsonl"
# A waiting writer re-tries the lock this often; filelock's 50 ms default would stall posts.
LOCK_POLL_S = 0.0005
COPY_CHUNK = 1024 * 1024
T = TypeVar("T")


class Store(Protocol):
    """What the front ends need from a store; a networked backend implements the same five calls."""

    data_dir: Path

    def append(
        self, target: str, sender: str, text: str, *, source: str | None = None, reply_to: int | None = None
    ) -> Message: ...

    def read_since(self, target: str, since_id: int, limit: int) -> tuple[list[Message], bool]: ...

    def read_last(self, target: str, limit: int) -> list[Message]: ...

    def list_channels(self) -> list[ChannelStats]: ...

    def stats(self, target: str) -> ChannelStats: ...

    def ensure_writable(self) -> None: ...


class FileStore:
    """Channels as ``<data_dir>/channels/<target>.jsonl``, safe for any number of processes and threads.

    Args:
        data_dir: the store's root folder; created on first write.
        max_message_bytes: the largest text accepted, in UTF-8 bytes.
        lock_timeout_s: how long a writer waits for a channel lock before raising StoreBusy.
        fsync: flush every append to the disk before returning (survives power loss, costs latency).
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        lock_timeout_s: float = 10.0,
        fsync: bool = False,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.channels_dir = self.data_dir / CHANNELS_DIR
        self.locks_dir = self.data_dir / LOCKS_DIR
        self.max_message_bytes = max_message_bytes
        self.lock_timeout_s = lock_timeout_s
        self.fsync = fsync
        # A stored line holds the text JSON-escaped (at most ~2x, as control characters are refused)
        # plus the other fields; anything far longer is not ours and is skipped unread.
        self.max_line = 2 * max_message_bytes + 16 * 1024
        # (inode, size) -> (last id, stats) of a channel file, so appends and lists skip the tail read.
        self._tail_cache: dict[str, tuple[tuple[int, int], ChannelStats]] = {}
        self._cache_lock = threading.Lock()
        self._warned: set[tuple[str, int]] = set()

    # --- paths and files -------------------------------------------------------------------------

    def channel_path(self, target: str) -> Path:
        """The file of a channel; the name is validated first, so the path stays inside the store."""
        return self.channels_dir / (normalize_target(target) + SUFFIX)

    def ensure_writable(self) -> None:
        """Create the store's folders and prove they are writable, so start-up fails clearly, not a post."""
        try:
            for folder in (self.channels_dir, self.locks_dir):
                folder.mkdir(parents=True, exist_ok=True)
                probe = folder / f".probe-{os.getpid()}-{threading.get_ident()}"
                probe.write_bytes(b"")
                probe.unlink()
        except OSError as exc:
            raise StoreError(
                f"data dir {self.data_dir} is not writable ({exc.strerror or exc}); "
                "choose another with --data-dir or CLAUDE_CODEX_DATA_DIR, or fix its permissions"
            ) from None

    def _open(self, path: Path, write: bool) -> int | None:
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        if write:
            flags = os.O_RDWR | os.O_APPEND | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
        try:
            return os.open(path, flags, 0o644)
        except FileNotFoundError:
            if not write:
                return None
            raise StoreError(f"the store folder {path.parent} is missing and could not be created") from None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise StoreError(
                    f"channel file {path} is a symbolic link; the relay never follows links in its store. "
                    "Replace it with a regular file (or run `relay check`)"
                ) from None
            raise StoreError(f"cannot open channel file {path}: {exc.strerror or exc}") from None

    @contextmanager
    def _locked(self, target: str) -> Iterator[None]:
        lock_path = self.locks_dir / f"{target}.lock"
        try:
            self.locks_dir.mkdir(parents=True, exist_ok=True)
            self.channels_dir.mkdir(parents=True, exist_ok=True)
            lock = filelock.FileLock(
                lock_path, timeout=self.lock_timeout_s, poll_interval=LOCK_POLL_S, preserve_lock_file=True
            )
            lock.acquire()
        except filelock.Timeout:
            raise StoreBusy(
                f"store busy: channel {target!r} stayed locked by another process for more than "
                f"{self.lock_timeout_s:g} s (lock file {lock_path}). Nothing was posted; retry shortly, "
                "and if this persists look for a stopped relay process"
            ) from None
        except OSError as exc:
            raise StoreError(
                f"cannot lock channel {target!r} at {lock_path}: {exc.strerror or exc}"
            ) from None
        try:
            yield
        finally:
            lock.release()

    def _bad_line(self, target: str) -> jsonl.BadLine:
        def report(offset: int, reason: str) -> None:
            key = (target, offset)
            if key not in self._warned and len(self._warned) < 10_000:
                self._warned.add(key)
                log.warning("skipping line at byte %d of channel %s: %s", offset, target, reason)

        return report

    # --- writes ----------------------------------------------------------------------------------

    def append(
        self, target: str, sender: str, text: str, *, source: str | None = None, reply_to: int | None = None
    ) -> Message:
        """Append one message and return its record, with the next id of the channel.

        Raises:
            InvalidInput: a bad target, sender, text or reply_to (nothing is written).
            StoreBusy: the channel lock was not free within ``lock_timeout_s``.
            StoreError: the file could not be written (e.g. a full disk); the channel is left as it was.
        """
        target = normalize_target(target)
        sender = normalize_sender(sender)
        validate_text(text, self.max_message_bytes)
        if reply_to is not None:
            validate_id(reply_to, "reply_to")
        path = self.channels_dir / (target + SUFFIX)
        with self._locked(target):
            fd = self._open(path, write=True)
            assert fd is not None
            try:
                record = self._append_locked(fd, target, sender, text, source, reply_to)
            finally:
                os.close(fd)
        if self.fsync and record["id"] == 1:
            self._sync_dir(self.channels_dir)  # a new file survives a power loss only with its folder entry
        return record

    def _append_locked(
        self, fd: int, target: str, sender: str, text: str, source: str | None, reply_to: int | None
    ) -> Message:
        st = os.fstat(fd)
        end = jsonl.complete_end(fd, st.st_size) if st.st_size else 0
        if end != st.st_size:
            # A writer died mid-line: cut the torn tail so the file stays valid JSONL.
            log.warning("channel %s: removing a torn last line of %d bytes", target, st.st_size - end)
            os.ftruncate(fd, end)
        cached = self._cached_stats(target, st.st_ino, end)
        if cached is not None:
            last_id = cached.latest_id
        else:
            last = jsonl.last_record(fd, end, self.max_line, self._bad_line(target))
            last_id = last["id"] if last else 0
        record: Message = {"id": last_id + 1, "ts": round(time.time(), 6), "target": target, "sender": sender}
        record["text"] = text
        if source is not None:
            record["source"] = source
        if reply_to is not None:
            record["reply_to"] = reply_to
        data = (json.dumps(record, ensure_ascii=False) + "\n").encode("utf-8")
        try:
            written = os.write(fd, data)
            while written < len(data):
                written += os.write(fd, data[written:])
            if self.fsync:
                os.fsync(fd)
        except OSError as exc:
            try:
                os.ftruncate(fd, end)  # take back a partial line so the file stays valid
            except OSError:
                log.error("channel %s: could not remove a partial line after a failed write", target)
            raise StoreError(
                f"could not write to channel {target!r}: {exc.strerror or exc}. Nothing was posted; "
                "free disk space or fix permissions and retry"
            ) from None
        self._remember(target, st.st_ino, end + len(data), record)
        return record

    # --- the tail cache ----------------------------------------------------------------------------

    def _cached_stats(self, target: str, inode: int, size: int) -> ChannelStats | None:
        with self._cache_lock:
            entry = self._tail_cache.get(target)
        if entry is not None and entry[0] == (inode, size):
            return entry[1]
        return None

    def _remember(self, target: str, inode: int, size: int, last: Message | None) -> ChannelStats:
        stats = _stats_of(target, last)
        with self._cache_lock:
            self._tail_cache[target] = ((inode, size), stats)
        return stats

    # --- reads -------------------------------------------------------------------------------------

    @contextmanager
    def _reading(self, target: str) -> Iterator[tuple[int, int] | None]:
        """Yield (fd, end of complete lines) of a channel, or None when it has no file yet."""
        fd = self._open(self.channels_dir / (target + SUFFIX), write=False)
        if fd is None:
            yield None
            return
        try:
            size = os.fstat(fd).st_size
            yield fd, jsonl.complete_end(fd, size) if size else 0
        finally:
            os.close(fd)

    def read_since(self, target: str, since_id: int, limit: int) -> tuple[list[Message], bool]:
        """Messages with id > ``since_id``, oldest first, at most ``limit``, and whether more follow."""
        target = normalize_target(target)
        validate_id(since_id, "since_id")
        with self._reading(target) as opened:
            if opened is None:
                return [], False
            fd, end = opened
            bad = self._bad_line(target)
            start = jsonl.offset_after_id(fd, end, since_id, self.max_line)
            return jsonl.records_from(fd, start, end, since_id, limit, self.max_line, bad)

    def read_last(self, target: str, limit: int) -> list[Message]:
        """The last ``limit`` messages, oldest first."""
        target = normalize_target(target)
        with self._reading(target) as opened:
            if opened is None:
                return []
            fd, end = opened
            return jsonl.tail_records(fd, end, limit, self.max_line, self._bad_line(target))

    def stats(self, target: str) -> ChannelStats:
        """Count, latest id, last time and last sender of one channel (zeros if it has no messages)."""
        target = normalize_target(target)
        with self._reading(target) as opened:
            if opened is None:
                return _stats_of(target, None)
            fd, end = opened
            inode = os.fstat(fd).st_ino
            cached = self._cached_stats(target, inode, end)
            if cached is not None:
                return cached
            last = jsonl.last_record(fd, end, self.max_line, self._bad_line(target))
            return self._remember(target, inode, end, last)

    def list_channels(self) -> list[ChannelStats]:
        """Stats of every channel that has a file, sorted by name; symlinks and stray files are skipped."""
        try:
            entries = list(os.scandir(self.channels_dir))
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise StoreError(f"cannot list {self.channels_dir}: {exc.strerror or exc}") from None
        found = []
        for entry in entries:
            name = entry.name[: -len(SUFFIX)]
            if not entry.name.endswith(SUFFIX) or not entry.is_file(follow_symlinks=False):
                continue
            try:
                if normalize_target(name) != name:
                    continue
                found.append(self.stats(name))
            except (ValueError, StoreError) as exc:
                log.warning("skipping %s in the channel list: %s", entry.path, exc)
        return sorted(found, key=lambda s: s.target)

    # --- checking and repair (``relay check``; the rules live in shared/check.py) -------------------

    def channel_entries(self) -> list[tuple[str, str]]:
        """(name, kind) of every entry of the channels folder; kind is file, symlink, dir or other."""
        try:
            entries = list(os.scandir(self.channels_dir))
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise StoreError(f"cannot list {self.channels_dir}: {exc.strerror or exc}") from None
        found = []
        for entry in entries:
            if entry.is_symlink():
                kind = "symlink"
            elif entry.is_file(follow_symlinks=False):
                kind = "file"
            elif entry.is_dir(follow_symlinks=False):
                kind = "dir"
            else:
                kind = "other"
            found.append((entry.name, kind))
        return sorted(found)

    def scan(self, target: str, inspect: Callable[[Iterator[ScannedLine]], T]) -> T | None:
        """Run ``inspect`` over every line of a channel file, torn tail included; None if it has no file.

        Takes no lock, so writers are never held up by a check; a line being written at this very
        moment may show up as a torn tail.
        """
        target = normalize_target(target)
        fd = self._open(self.channels_dir / (target + SUFFIX), write=False)
        if fd is None:
            return None
        try:
            return inspect(self._scanned_lines(fd, os.fstat(fd).st_size))
        except OSError as exc:
            raise StoreError(f"cannot read channel {target!r}: {exc.strerror or exc}") from None
        finally:
            os.close(fd)

    def repair(
        self, target: str, inspect: Callable[[Iterator[ScannedLine]], Sequence[tuple[int, int]]]
    ) -> RepairOutcome:
        """Move the lines ``inspect`` names as (offset, length) to a quarantine file; rewrite the channel.

        Everything happens under the channel lock, so no post is lost; the quarantine file
        (``<target>.jsonl.quarantine-<UTC time>``, beside the channel) is flushed to disk before the new
        channel file replaces the old one with ``os.replace``, so no line is ever deleted.
        """
        target = normalize_target(target)
        path = self.channels_dir / (target + SUFFIX)
        with self._locked(target):
            fd = self._open(path, write=False)
            if fd is None:
                return RepairOutcome(None, 0)
            tmp: Path | None = None
            try:
                size = os.fstat(fd).st_size
                bad = sorted(set(inspect(self._scanned_lines(fd, size))))
                if not bad:
                    return RepairOutcome(None, 0)
                quarantine = self._write_quarantine(fd, target, bad, size)
                out, tmp = self._create_exclusive(f".{target}{SUFFIX}.repair-{os.getpid()}.tmp")
                try:
                    kept_from = 0
                    for offset, length in bad:
                        _copy_range(fd, out, kept_from, offset)
                        kept_from = min(size, offset + length + 1)
                    _copy_range(fd, out, kept_from, size)
                    os.fsync(out)
                finally:
                    os.close(out)
                os.replace(tmp, path)
                tmp = None
                self._sync_dir(self.channels_dir)
            except OSError as exc:
                raise StoreError(
                    f"could not repair channel {target!r}: {exc.strerror or exc}; the channel file was "
                    "left as it was"
                ) from None
            finally:
                os.close(fd)
                if tmp is not None:
                    tmp.unlink(missing_ok=True)  # our own half-written copy, never channel data
        with self._cache_lock:
            self._tail_cache.pop(target, None)
        return RepairOutcome(quarantine, len(bad))

    def move_aside(self, name: str) -> Path:
        """Rename an entry of the channels folder (e.g. a symlinked channel) to ``<name>.moved-<UTC time>``.

        The entry itself is renamed: a symbolic link is never followed, its target never touched.
        """
        if name in ("", ".", "..") or "/" in name or "\\" in name or "\0" in name:
            raise StoreError(f"{name!r} is not an entry of the channels folder")
        source = self.channels_dir / name
        stem = name[: -len(SUFFIX)] if name.endswith(SUFFIX) else ""
        try:
            target = normalize_target(stem) if stem else None
        except ValueError:
            target = None
        lock = self._locked(target) if target == stem and target else nullcontext()
        with lock:
            for attempt in range(1000):
                suffix = f"-{attempt}" if attempt else ""
                aside = self.channels_dir / f"{name}.moved-{_stamp()}{suffix}"
                if not os.path.lexists(aside):
                    break
            try:
                os.rename(source, aside)
            except OSError as exc:
                raise StoreError(f"cannot move {source} aside: {exc.strerror or exc}") from None
            self._sync_dir(self.channels_dir)
        return aside

    def _scanned_lines(self, fd: int, size: int) -> Iterator[ScannedLine]:
        end = jsonl.complete_end(fd, size) if size else 0
        number = 0
        for offset, length, data in jsonl.spans_forward(fd, 0, end, self.max_line):
            number += 1
            yield ScannedLine(number, offset, length, data, True)
        if size > end:
            tail = os.pread(fd, size - end, end) if size - end <= self.max_line else None
            yield ScannedLine(number + 1, end, size - end, tail, False)

    def _write_quarantine(self, fd: int, target: str, bad: list[tuple[int, int]], size: int) -> Path:
        out, path = self._create_exclusive(f"{target}{SUFFIX}.quarantine-{_stamp()}")
        try:
            for offset, length in bad:
                _copy_range(fd, out, offset, min(size, offset + length))
                _write_all(out, b"\n")
            os.fsync(out)
        finally:
            os.close(out)
        return path

    def _create_exclusive(self, name: str) -> tuple[int, Path]:
        flags = (
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        )
        for attempt in range(1000):
            path = self.channels_dir / (name if not attempt else f"{name}-{attempt}")
            try:
                return os.open(path, flags, 0o644), path
            except FileExistsError:
                continue
        raise StoreError(f"cannot create a new file named like {self.channels_dir / name}")

    @staticmethod
    def _sync_dir(folder: Path) -> None:
        """Flush a folder's entries (a new or renamed file) to disk; best effort where unsupported."""
        try:
            dir_fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        except OSError:
            return
        try:
            os.fsync(dir_fd)
        except OSError:
            pass
        finally:
            os.close(dir_fd)


def _stats_of(target: str, last: dict[str, Any] | None) -> ChannelStats:
    if last is None:
        return ChannelStats(target, 0, 0, None, None)
    ts = last.get("ts")
    sender = last.get("sender")
    return ChannelStats(
        target=target,
        count=last["id"],
        latest_id=last["id"],
        last_ts=float(ts) if isinstance(ts, (int, float)) else None,
        last_sender=sender if isinstance(sender, str) else None,
    )


@dataclass(frozen=True)
class ScannedLine:
    """One line of a channel file as ``relay check`` sees it."""

    number: int  # 1-based line number
    offset: int  # byte offset of the line's start
    length: int  # bytes, without the line end
    data: bytes | None  # None when longer than the store's line limit (never held in memory)
    complete: bool  # False for a torn last line (no line end)


@dataclass(frozen=True)
class RepairOutcome:
    """What :meth:`FileStore.repair` did: the quarantine file it wrote and how many lines it moved there."""

    quarantine: Path | None
    moved: int


def _stamp() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())


def _write_all(fd: int, data: bytes) -> None:
    written = os.write(fd, data)
    while written < len(data):
        written += os.write(fd, data[written:])


def _copy_range(src: int, dst: int, start: int, stop: int) -> None:
    pos = start
    while pos < stop:
        block = os.pread(src, min(COPY_CHUNK, stop - pos), pos)
        if not block:
            raise OSError(errno.EIO, "the channel file shrank while it was being repaired")
        _write_all(dst, block)
        pos += len(block)
