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
import weakref
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from shared.errors import InvalidInput, StoreBusy, StoreError
from shared.fsutil import open_private, private_mkdir, sync_dir
from shared.models import (
    DEFAULT_MAX_MESSAGE_BYTES,
    LARGEST_MAX_MESSAGE_BYTES,
    ChannelStats,
    Message,
    normalize_sender,
    normalize_target,
    validate_id,
    validate_text,
)
from shared.search import Found, SearchQuery, newest_first
from shared.storage.files import jsonl, locking
from shared.storage.files.cursors import CursorStore
from shared.storage.files.handles import OUT_OF_DESCRIPTORS, HandleCache
from shared.storage.files.notify import Notifier, open_notifier

log = logging.getLogger("relay.store")

_READ_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_ENCODER = json.JSONEncoder(ensure_ascii=False)
CHANNELS_DIR = "channels"
LOCKS_DIR = "locks"
SUFFIX = ".jsonl"
COPY_CHUNK = 1024 * 1024
# A read of fewer new messages than this walks back from the end; further back, a binary search.
TAIL_READ_RECORDS = 64
SMALL_PAGE_BYTES = 256 * 1024
T = TypeVar("T")


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
        if not 1 <= max_message_bytes <= LARGEST_MAX_MESSAGE_BYTES:
            raise InvalidInput(
                f"max_message_bytes is {max_message_bytes}; it must be 1 to {LARGEST_MAX_MESSAGE_BYTES}"
            )
        self.data_dir = Path(data_dir)
        self.channels_dir = self.data_dir / CHANNELS_DIR
        self.locks_dir = self.data_dir / LOCKS_DIR
        self.max_message_bytes = max_message_bytes
        self.lock_timeout_s = lock_timeout_s
        self.fsync = fsync
        # How far a line is read is the same in every process, whatever its max_message_bytes (what it
        # accepts to write): a line no relay writes is skipped unread.
        self.max_line = jsonl.MAX_LINE
        # (inode, size) -> (last id, stats) of a channel file, so appends and lists skip the tail read.
        self._tail_cache: dict[str, tuple[tuple[int, int], ChannelStats]] = {}
        self._cache_lock = threading.Lock()
        self._warned: set[tuple[str, int]] = set()
        self._dirs_ready = False
        self._channels_prefix = str(self.channels_dir) + os.sep
        self._locks_prefix = str(self.locks_dir) + os.sep
        self._handles = HandleCache()
        self._positions = CursorStore(self.data_dir, lock_timeout_s, fsync)
        self.description = str(self.data_dir)
        weakref.finalize(self, self._handles.close)

    blocking = False  # every call is local file work; only a busy lock can make one wait

    # --- paths and files -------------------------------------------------------------------------

    def channel_path(self, target: str) -> Path:
        """The file of a channel; the name is validated first, so the path stays inside the store."""
        return self.channels_dir / (normalize_target(target) + SUFFIX)

    def ensure_ready(self) -> None:
        """Create the store's folders and prove they are writable, so start-up fails clearly, not a post."""
        try:
            for folder in (self.channels_dir, self.locks_dir):
                private_mkdir(folder)
                probe = folder / f".probe-{os.getpid()}-{threading.get_ident()}"
                os.close(open_private(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC))
                probe.unlink()
        except OSError as exc:
            raise StoreError(
                f"data dir {self.data_dir} is not writable ({exc.strerror or exc}); "
                "choose another with --data-dir or CLAUDE_CODEX_DATA_DIR, or fix its permissions"
            ) from None

    def _open_for_reading(self, path: str) -> int | None:
        """A read-only descriptor of a channel file, or None if it does not exist; links are refused."""
        try:
            try:
                return os.open(path, _READ_FLAGS)
            except OSError as exc:
                if exc.errno not in OUT_OF_DESCRIPTORS:
                    raise
                self._handles.shed()  # the kept descriptors of idle channels give way to this read
                return os.open(path, _READ_FLAGS)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise StoreError(
                    f"channel file {path} is a symbolic link; the relay never follows links in its store. "
                    "Replace it with a regular file (or run `relay check --repair`)"
                ) from None
            raise StoreError(f"cannot open channel file {path}: {exc.strerror or exc}") from None

    @contextmanager
    def _locked(self, target: str, open_file: bool = True) -> Iterator[int]:
        """Hold the channel's lock (against threads and processes) and yield its file, open for append
        (-1 with ``open_file=False``, for repairs that replace or move the file)."""
        lock_path = self._locks_prefix + target + ".lock"
        data_path = self._channels_prefix + target + SUFFIX
        if not self._dirs_ready:
            self._make_dirs()
        try:
            with self._handles.locked(target, lock_path, data_path, self.lock_timeout_s, open_file) as fd:
                yield fd
        except locking.LockTimeout:
            raise StoreBusy(
                f"store busy: channel {target!r} stayed locked by another writer for more than "
                f"{self.lock_timeout_s:g} s (lock file {lock_path}). Nothing was posted; retry shortly, "
                "and if this persists look for a stopped relay process"
            ) from None
        except OSError as exc:
            if isinstance(exc, StoreError):
                raise
            if exc.errno in (errno.ELOOP, errno.EINVAL):
                raise StoreError(_not_a_file(exc, lock_path, data_path)) from None
            if isinstance(exc, FileNotFoundError):
                self._dirs_ready = False  # the folders were removed while we were running
            raise StoreError(f"cannot open channel {target!r}: {exc.strerror or exc}") from None

    def _make_dirs(self) -> None:
        try:
            private_mkdir(self.locks_dir)
            private_mkdir(self.channels_dir)
        except OSError as exc:
            raise StoreError(
                f"cannot create the store folders in {self.data_dir}: {exc.strerror or exc}; "
                "choose another data dir or fix its permissions"
            ) from None
        self._dirs_ready = True

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
            reply_to = validate_id(reply_to, "reply_to", minimum=1)
        fields: Message = {"target": target, "sender": sender, "text": text}
        if source is not None:
            fields["source"] = source
        if reply_to is not None:
            fields["reply_to"] = reply_to
        # Everything but the id and time is encoded before taking the lock, which is then held only
        # for the tail check and one write (for a 4 KB text, a third as long).
        body = _ENCODER.encode(fields).encode("utf-8")
        with self._locked(target) as fd:
            record = self._append_locked(fd, target, fields, body)
        if self.fsync and record["id"] == 1:
            self._sync_dir(self.channels_dir)  # a new file survives a power loss only with its folder entry
        return record

    def _append_locked(self, fd: int, target: str, fields: Message, body: bytes) -> Message:
        inode, end, last_id = self._tail(fd, target)
        record: Message = {"id": last_id + 1, "ts": round(time.time(), 6), **fields}
        # The same bytes as encoding the whole record: id and time first, then the body's fields.
        data = b'{"id": %d, "ts": %s, %s\n' % (record["id"], _ENCODER.encode(record["ts"]).encode(), body[1:])
        self._write_at_end(fd, target, end, data, "Nothing was posted")
        self._remember(target, inode, end + len(data), record)
        return record

    def _tail(self, fd: int, target: str) -> tuple[int, int, int]:
        """(inode, end of complete lines, last id) of a locked channel file; a torn last line is cut."""
        st = os.fstat(fd)
        # The common case: nobody else wrote since our last append, so the file ends where we left it.
        cached = self._cached_stats(target, st.st_ino, st.st_size)
        if cached is not None:
            return st.st_ino, st.st_size, cached.latest_id
        end, last_id = jsonl.end_and_last_id(fd, st.st_size, self._bad_line(target))
        if end != st.st_size:
            # A writer died mid-line: cut the torn tail so the file stays valid JSONL.
            log.warning("channel %s: removing a torn last line of %d bytes", target, st.st_size - end)
            os.ftruncate(fd, end)
        return st.st_ino, end, last_id

    def _write_at_end(self, fd: int, target: str, end: int, data: bytes, outcome: str) -> None:
        """Append ``data`` (whole lines) to a locked channel file; on failure take it all back."""
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
                f"could not write to channel {target!r}: {exc.strerror or exc}. {outcome}; "
                "free disk space or fix permissions and retry"
            ) from None

    def import_records(self, target: str, records: list[Message]) -> int:
        """Append records under their own ids (``relay store copy``), skipping ids the channel already has.

        Returns how many were written; later appends continue after the largest id.
        """
        target = normalize_target(target)
        with self._locked(target) as fd:
            inode, end, last_id = self._tail(fd, target)
            fresh = [r for r in records if isinstance(r.get("id"), int) and r["id"] > last_id]
            fresh.sort(key=lambda r: r["id"])
            if not fresh:
                return 0
            lines = [_ENCODER.encode({**r, "target": target}).encode("utf-8") + b"\n" for r in fresh]
            data = b"".join(lines)
            self._write_at_end(fd, target, end, data, "Nothing of this batch was copied")
            self._remember(target, inode, end + len(data), {**fresh[-1], "target": target})
        return len(fresh)

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
    def _reading(self, target: str, find_end: bool = True) -> Iterator[tuple[int, int] | None]:
        """Yield (fd, end of complete lines) of a channel, or None when it has no file yet.

        With ``find_end=False`` the second value is the file's size, for callers that find the end
        themselves along with the last record.
        """
        fd = self._open_for_reading(self._channels_prefix + target + SUFFIX)
        if fd is None:
            yield None
            return
        try:
            size = os.fstat(fd).st_size
            yield fd, jsonl.complete_end(fd, size) if size and find_end else size
        finally:
            os.close(fd)

    def read_since(self, target: str, since_id: int, limit: int) -> tuple[list[Message], bool]:
        """Messages with id > ``since_id``, oldest first, at most ``limit``, and whether more follow."""
        target = normalize_target(target)
        validate_id(since_id, "since_id")
        with self._reading(target, find_end=False) as opened:
            if opened is None:
                return [], False
            fd, size = opened
            bad = self._bad_line(target)
            # One small read at the end answers the most common question, "anything new?".
            end, last_id = jsonl.end_and_last_id(fd, size, bad)
            if last_id <= since_id:
                return [], False
            if last_id - since_id <= TAIL_READ_RECORDS:  # a poller catching up: walk back from the end
                recent = jsonl.records_after_in_tail(fd, end, since_id, limit, self.max_line, bad)
                if recent is not None:
                    return recent
            start = jsonl.offset_after_id(fd, end, since_id)
            return jsonl.records_from(fd, start, end, since_id, limit, self.max_line, bad)

    def read_last(self, target: str, limit: int) -> list[Message]:
        """The last ``limit`` messages, oldest first."""
        target = normalize_target(target)
        with self._reading(target) as opened:
            if opened is None:
                return []
            fd, end = opened
            return jsonl.tail_records(fd, end, limit, self.max_line, self._bad_line(target))

    def read_before(self, target: str, before_id: int, limit: int) -> tuple[list[Message], bool]:
        """The last ``limit`` messages with id < ``before_id``, oldest first, and whether older ones exist.

        For paging back through a long channel: a binary search finds ``before_id``, then only the
        requested lines are read backwards from there.
        """
        target = normalize_target(target)
        validate_id(before_id, "before_id")
        with self._reading(target) as opened:
            if opened is None or before_id <= 1:
                return [], False
            fd, end = opened
            cut = jsonl.offset_of_id(fd, end, before_id, self.max_line)
            found = jsonl.tail_records(fd, cut, limit + 1, self.max_line, self._bad_line(target))
            return found[-limit:] if limit > 0 else [], len(found) > limit

    def stats(self, target: str) -> ChannelStats:
        """Count, latest id, last time and last sender of one channel (zeros if it has no messages)."""
        target = normalize_target(target)
        inode, size, _ = self.version(target)  # one stat: enough when the cache knows this state
        cached = self._cached_stats(target, inode, size)
        if cached is not None:
            return cached
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

    def version(self, target: str) -> tuple[int, int, int]:
        """A cheap value that differs whenever the channel's file was appended to, cut or replaced.

        (inode, size, mtime in ns) from one ``stat`` call, without opening the file: waiters compare it
        every few milliseconds and read the channel only when it changed. (0, 0, 0) when there is no file.
        """
        path = self.channels_dir / (normalize_target(target) + SUFFIX)
        try:
            st = os.stat(path, follow_symlinks=False)
        except FileNotFoundError:
            return (0, 0, 0)
        except OSError as exc:
            raise StoreError(f"cannot stat channel file {path}: {exc.strerror or exc}") from None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def subscribe(self, targets: Collection[str] | None = None) -> Notifier | None:
        """Be told when a channel file changes (inotify on the channels folder; any channel wakes every
        subscriber, who re-checks its own); None where inotify cannot be used: poll instead."""
        if not self._dirs_ready:
            try:
                self._make_dirs()
            except StoreError:
                return None
        return open_notifier(self.channels_dir)

    def cheap_read(self, target: str, limit: int) -> bool:
        """Whether ``limit`` messages of ``target`` come to at most ~256 KiB, judged by its mean line.

        A page that size reads and decodes in about a millisecond, little enough to do on an event
        loop; a page of large messages (up to 200 x 256 KiB) is read on a worker thread instead.
        """
        _, size, _ = self.version(target)
        if size <= SMALL_PAGE_BYTES:
            return True
        pages = limit * size  # limit x mean line, times the message count
        return pages <= SMALL_PAGE_BYTES * self.stats(target).latest_id

    # --- read positions (``<data_dir>/cursors/``, see cursors.py) ------------------------------------

    def get_position(self, identity: str, target: str) -> int:
        """``identity``'s saved read position in ``target`` (0 when it has never read there)."""
        return self._positions.get(identity, target)

    def advance_position(self, identity: str, target: str, latest_id: int) -> int:
        """Move ``identity``'s read position in ``target`` forward to ``latest_id`` (never back)."""
        return self._positions.advance(identity, target, latest_id)

    def reset_position(self, identity: str, target: str, position: int) -> int:
        """Set a read position to exactly ``position`` (a channel that was emptied or replaced)."""
        return self._positions.reset(identity, target, position)

    def positions(self) -> dict[str, dict[str, int]]:
        """Every saved read position: identity -> channel -> id."""
        return self._positions.all()

    def close(self) -> None:
        """Close the descriptors this store keeps open between appends."""
        self._handles.close()

    def _channel_dir_entries(self, folder: Path | None = None) -> list[os.DirEntry[str]]:
        """The entries of the channels folder, or of ``folder`` (none before the first post)."""
        folder = folder or self.channels_dir
        try:
            return list(os.scandir(folder))
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise StoreError(f"cannot list {folder}: {exc.strerror or exc}") from None

    def list_channels(self) -> list[ChannelStats]:
        """Stats of every channel that has a file, sorted by name; symlinks and stray files are skipped."""
        entries = self._channel_dir_entries()
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

    def search(self, query: str, target: str | None, limit: int, deadline_s: float) -> Found:
        """Messages matching ``query`` (see shared/search.py) in ``target`` or every channel, newest first.

        Each channel is read backwards from its newest line, and a line is parsed only when its raw
        bytes can hold every word; the scan stops after ``limit`` matches per channel or when
        ``deadline_s`` seconds have passed, and then returns what it found with ``complete`` False.
        """
        parsed = SearchQuery.parse(query)
        if target is not None:
            names = [normalize_target(target)]
        else:  # the most recently active first: if time runs out, what is left unread is the oldest
            listed = sorted(self.list_channels(), key=lambda s: s.last_ts or 0.0, reverse=True)
            names = [s.target for s in listed]
        stop_at = time.monotonic() + deadline_s
        found = Found()
        groups = []
        for name in names:
            matches, finished = self._search_channel(name, parsed, limit, stop_at)
            groups.append(matches)
            if not finished:
                found.complete = False
                break
        found.extend(newest_first(groups, limit))
        return found

    def _search_channel(
        self, target: str, query: SearchQuery, limit: int, stop_at: float
    ) -> tuple[list[Message], bool]:
        """Up to ``limit`` matches of one channel, newest first, and whether the scan finished in time."""
        matches: list[Message] = []
        with self._reading(target) as opened:
            if opened is None:
                return matches, True
            fd, end = opened
            for scanned, (_, line) in enumerate(jsonl.lines_backward(fd, end, self.max_line)):
                if scanned % 256 == 255 and time.monotonic() > stop_at:
                    return matches, False
                if isinstance(line, jsonl.LongLine) or not query.may_match(line):
                    continue
                record = jsonl.parse_record(line)
                if record is not None and query.matches(record):
                    matches.append(record)
                    if len(matches) >= limit:
                        break
        return matches, True

    # --- checking and repair (``relay check``; the rules live in shared/check.py) -------------------

    def channel_entries(self, locks: bool = False) -> list[tuple[str, str]]:
        """(name, kind) of every entry of the channels folder (of the locks folder with ``locks``); kind
        is file, symlink, dir or other."""
        entries = self._channel_dir_entries(self.locks_dir if locks else None)
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
        fd = self._open_for_reading(self._channels_prefix + target + SUFFIX)
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
        with self._locked(target, open_file=False):
            fd = self._open_for_reading(str(path))
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
        lock = self._locked(target, open_file=False) if target == stem and target else nullcontext()
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

    def move_lock_aside(self, name: str) -> Path:
        """Rename an entry of the locks folder that is not a lock file (a link) to ``<name>.moved-<time>``.

        No lock is needed: the store never locks, opens or follows such an entry; the next post creates
        a regular lock file in its place.
        """
        if name in ("", ".", "..") or "/" in name or "\\" in name or "\0" in name:
            raise StoreError(f"{name!r} is not an entry of the locks folder")
        source = self.locks_dir / name
        aside = self.locks_dir / f"{name}.moved-{_stamp()}"
        try:
            os.rename(source, aside)
        except OSError as exc:
            raise StoreError(f"cannot move {source} aside: {exc.strerror or exc}") from None
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
                return open_private(path, flags), path
            except FileExistsError:
                continue
        raise StoreError(f"cannot create a new file named like {self.channels_dir / name}")

    _sync_dir = staticmethod(sync_dir)


def _not_a_file(exc: OSError, lock_path: str, data_path: str) -> str:
    """The message for a channel's lock file or channel file that is a symbolic link or not a file."""
    kind, path = ("lock file", lock_path) if exc.filename == lock_path else ("channel file", data_path)
    what = "a symbolic link" if exc.errno == errno.ELOOP else "not a regular file"
    return (
        f"{kind} {path} is {what}; the relay never follows links in its store and writes only regular "
        "files. Run `relay check --repair` to move it aside (or replace it with a regular file)"
    )


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
