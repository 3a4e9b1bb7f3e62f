"""Reading JSONL channel files through an open descriptor without scanning what is not needed.

Only complete lines (ending in ``\\n``) count: a torn last line left by a killed writer is invisible.
The store opens the files and takes the locks; the functions here only read.

How far a line is read never depends on the reading process's own ``max_message_bytes``: every reader
takes lines up to :data:`MAX_LINE`, the longest any relay writes, and walks that only need ids (the
writer's search for the last id, the binary search) hold at most :data:`ID_SCAN_LINE` bytes of a line
and take a longer line's id from its first bytes.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from shared.models import LARGEST_MAX_MESSAGE_BYTES, Message

CHUNK = 64 * 1024
PROBE = 4 * 1024
# A stored line holds the text JSON-escaped (at most ~2x, as control characters are refused) plus the
# other fields: no relay, whatever its max_message_bytes, writes a longer one.
MAX_LINE = 2 * LARGEST_MAX_MESSAGE_BYTES + 16 * 1024
ID_SCAN_LINE = 4 * PROBE
_HEAD = 64  # holds '{"id": <up to 18 digits>,'

BadLine = Callable[[int, str], None]
"""Called with (byte offset, reason) for a line that is not a valid record."""


@dataclass(frozen=True)
class LongLine:
    """A line longer than a walk holds in memory: its first bytes (where the relay writes the id) and
    its length without the ``\\n``."""

    head: bytes
    length: int


Line = bytes | LongLine


def _long(fd: int, start: int, stop: int) -> LongLine:
    return LongLine(os.pread(fd, min(_HEAD, stop - start), start), stop - start)


def _reason(line: Line) -> str:
    return "line too long" if isinstance(line, LongLine) else "not a JSON record with an integer id"


# Lines the relay writes start with the id; reading it this way is ~10x cheaper than json.loads and
# is all that is needed to skip a record. Anything else falls back to the full parse.
_ID_PREFIX = re.compile(rb'\{"id": ([1-9]\d{0,17}),')


def record_id(line: Line | None) -> int | None:
    """The id of a record line, or None if the line is not a record (cheap for the relay's own lines).

    A :class:`LongLine` is judged by the id the relay writes at its start.
    """
    if line is None:
        return None
    found = _ID_PREFIX.match(line.head if isinstance(line, LongLine) else line)
    if found:
        return int(found.group(1))
    record = parse_record(line)
    return record["id"] if record is not None else None


def parse_record(line: Line | None) -> Message | None:
    """Return the record a line holds, or None if it is not a valid record.

    A valid record is a JSON object with an integer ``id`` >= 1, a finite number ``ts`` and string
    ``target``, ``sender`` and ``text``: anything less (a hand edit such as ``{"id": 9}``) would be
    served to clients that rely on those fields, so it is skipped like any other malformed line.
    """
    if line is None or isinstance(line, LongLine):
        return None
    try:
        record = json.loads(line)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: absurdly nested JSON
        return None
    if not isinstance(record, dict) or not _is_record(record):
        return None
    return record


def _is_record(record: dict[str, object]) -> bool:
    record_id, ts = record.get("id"), record.get("ts")
    return (
        type(record_id) is int
        and record_id >= 1
        and isinstance(ts, (int, float))
        and not isinstance(ts, bool)
        and math.isfinite(ts)
        and all(isinstance(record.get(key), str) for key in ("target", "sender", "text"))
    )


def complete_end(fd: int, size: int) -> int:
    """The offset just after the last ``\\n`` in the first ``size`` bytes (0 if there is none)."""
    pos = size
    while pos > 0:
        start = max(0, pos - PROBE)
        block = os.pread(fd, pos - start, start)
        idx = block.rfind(b"\n")
        if idx >= 0:
            return start + idx + 1
        pos = start
    return 0


def lines_backward(fd: int, end: int, max_line: int) -> Iterator[tuple[int, Line]]:
    """Yield (offset, line without ``\\n``) for the complete lines before ``end``, last first.

    ``end`` must be 0 or just after a ``\\n``. A line longer than ``max_line`` is yielded as a
    :class:`LongLine` without being held in memory.
    """
    pos = end
    line_end = end - 1  # where the current line's terminator is
    parts: list[bytes] = []  # the part of the current line seen so far, last piece first
    held = 0
    first = True
    chunk = PROBE  # most reads want the last few lines: start small, grow to CHUNK
    while pos > 0:
        start = max(0, pos - chunk)
        chunk = min(chunk * 4, CHUNK)
        block = os.pread(fd, pos - start, start)
        hi = len(block) - 1 if first else len(block)  # skip the final terminator
        first = False
        idx = block.rfind(b"\n", 0, hi)
        while idx >= 0:
            if held + hi - idx - 1 <= max_line:
                parts.append(block[idx + 1 : hi])
                yield start + idx + 1, b"".join(reversed(parts))
            else:
                yield start + idx + 1, _long(fd, start + idx + 1, line_end)
            line_end = start + idx
            parts, held, hi = [], 0, idx
            idx = block.rfind(b"\n", 0, hi)
        held += hi
        if held <= max_line:
            parts.append(block[:hi])
        else:
            parts = []
        pos = start
    if end > 0:
        yield 0, b"".join(reversed(parts)) if held <= max_line else _long(fd, 0, line_end)


def lines_forward(
    fd: int, start: int, end: int, max_line: int, chunk: int = CHUNK
) -> Iterator[tuple[int, Line]]:
    """Yield (offset, line without ``\\n``) for the complete lines from ``start`` (a line start) on."""
    pos = start
    line_start = start
    parts: list[bytes] = []
    held = 0
    size = min(chunk, 4 * PROBE)  # most reads want a page of messages: start small, grow to ``chunk``
    while pos < end:
        block = os.pread(fd, min(size, end - pos), pos)
        size = min(size * 4, chunk)
        if not block:
            return
        lo = 0
        idx = block.find(b"\n")
        while idx >= 0:
            if held + idx - lo <= max_line:
                parts.append(block[lo:idx])
                yield line_start, b"".join(parts)
            else:
                yield line_start, _long(fd, line_start, pos + idx)
            parts, held = [], 0
            lo = idx + 1
            line_start = pos + lo
            idx = block.find(b"\n", lo)
        held += len(block) - lo
        if held <= max_line:
            parts.append(block[lo:])
        else:
            parts = []
        pos += len(block)


def next_line_start(fd: int, offset: int, end: int) -> int:
    """The first line start at or after ``offset`` (``end`` if there is none)."""
    if offset == 0:
        return 0
    pos = offset - 1  # the line starts at offset if the byte before it is a terminator
    while pos < end:
        block = os.pread(fd, min(PROBE, end - pos), pos)
        idx = block.find(b"\n")
        if idx >= 0:
            return pos + idx + 1
        pos += len(block)
    return end


def last_record(fd: int, end: int, max_line: int, bad: BadLine) -> Message | None:
    """The last valid record before ``end``, skipping (and reporting) malformed lines."""
    for offset, line in lines_backward(fd, end, max_line):
        record = parse_record(line)
        if record is not None:
            return record
        bad(offset, _reason(line))
    return None


def end_and_last_id(fd: int, size: int, bad: BadLine) -> tuple[int, int]:
    """The end of the complete lines and the id of the last record (0 if none), usually from one small read.

    This is what a writer needs before appending; when the file ends cleanly with a valid last line of
    up to 16 KiB, a single read answers both. However long the last lines are, at most
    :data:`ID_SCAN_LINE` bytes of each are held: a longer line counts with the id the relay wrote at
    its start, so a message longer than this process's own limit never gets its id reused.
    """
    if size == 0:
        return 0, 0
    start = max(0, size - ID_SCAN_LINE)  # holds a 4 KiB message's whole line
    block = os.pread(fd, size - start, start)
    if block.endswith(b"\n"):
        idx = block.rfind(b"\n", 0, len(block) - 1)
        if idx >= 0 or start == 0:
            record = parse_record(block[idx + 1 : -1])
            if record is not None:
                return size, record["id"]
        end = size
    else:
        end = complete_end(fd, size)
    for offset, line in lines_backward(fd, end, ID_SCAN_LINE):
        found = _line_id(fd, offset, line)
        if found is not None:
            return end, found
        bad(offset, _reason(line))
    return end, 0


def _line_id(fd: int, offset: int, line: Line) -> int | None:
    """The id of a record line for the writer: the relay's own id prefix of a long line, or the id of a
    valid record (read whole only for a long line without that prefix, a hand edit, up to MAX_LINE)."""
    if isinstance(line, LongLine):
        found = _ID_PREFIX.match(line.head)
        if found:
            return int(found.group(1))
        if line.length > MAX_LINE:
            return None
        line = os.pread(fd, line.length, offset)
    record = parse_record(line)
    return record["id"] if record is not None else None


def tail_records(fd: int, end: int, count: int, max_line: int, bad: BadLine) -> list[Message]:
    """The last ``count`` valid records before ``end``, oldest first."""
    found: list[Message] = []
    if count <= 0:
        return found
    for offset, line in lines_backward(fd, end, max_line):
        record = parse_record(line)
        if record is None:
            bad(offset, _reason(line))
            continue
        found.append(record)
        if len(found) >= count:
            break
    found.reverse()
    return found


def _first_id(fd: int, start: int, end: int) -> tuple[int, int] | None:
    for offset, line in lines_forward(fd, start, end, ID_SCAN_LINE, PROBE):
        found = record_id(line)
        if found is not None:
            return offset, found
    return None


def offset_after_id(fd: int, end: int, since_id: int) -> int:
    """A line start at or before the first record with id > ``since_id``, found by binary search.

    Ids grow in file order, so the search needs O(log size) small reads; malformed lines on the way
    only move the probe forward. The caller scans forward from the result.
    """
    lo, hi = 0, end
    if since_id <= 0:
        return 0
    while hi - lo > PROBE:
        mid = next_line_start(fd, (lo + hi) // 2, hi)
        found = _first_id(fd, mid, hi)
        if found is None or found[1] > since_id:
            if mid >= hi:
                break
            hi = mid
        else:
            lo = next_line_start(fd, found[0] + 1, end)
    return lo


def records_from(
    fd: int, start: int, end: int, since_id: int, count: int, max_line: int, bad: BadLine
) -> tuple[list[Message], bool]:
    """Up to ``count`` valid records with id > ``since_id`` from ``start``, and whether more follow."""
    lines = lines_forward(fd, start, end, max_line)
    return _take(((offset, line) for offset, line in lines if not _older(line, since_id)), count, bad)


def records_after_in_tail(
    fd: int, end: int, since_id: int, count: int, max_line: int, bad: BadLine, window: int = CHUNK
) -> tuple[list[Message], bool] | None:
    """Like :func:`records_from`, answered from the last ``window`` bytes when ``since_id`` is in them.

    Readers polling for news ask for ids near the end; walking back from the end finds them without
    the binary search. Returns None when ``since_id`` lies further back.
    """
    newer: list[tuple[int, Line]] = []
    for offset, line in lines_backward(fd, end, max_line):
        if end - offset > window:
            return None
        if _older(line, since_id):
            break
        newer.append((offset, line))
    return _take(reversed(newer), count, bad)


def _older(line: Line, since_id: int) -> bool:
    """True for a line whose id is known and at most ``since_id`` (unreadable lines are not "older")."""
    line_id = record_id(line)
    return line_id is not None and line_id <= since_id


def _take(lines: Iterable[tuple[int, Line]], count: int, bad: BadLine) -> tuple[list[Message], bool]:
    """The first ``count`` valid records of ``lines`` (reporting the others), and whether more follow."""
    found: list[Message] = []
    for offset, line in lines:
        record = parse_record(line)
        if record is None:
            bad(offset, _reason(line))
            continue
        if len(found) >= count:
            return found, True
        found.append(record)
    return found, False


def offset_of_id(fd: int, end: int, first_id: int, max_line: int) -> int:
    """The start of the first valid record with id >= ``first_id`` (``end`` if there is none).

    The binary search lands at most a probe's width early; a short forward scan finds the exact line,
    so every record before the result has a smaller id.
    """
    start = offset_after_id(fd, end, first_id - 1)
    for offset, line in lines_forward(fd, start, end, max_line, PROBE):
        record = parse_record(line)
        if record is not None and record["id"] >= first_id:
            return offset
    return end


def spans_forward(fd: int, start: int, end: int, max_line: int) -> Iterator[tuple[int, int, bytes | None]]:
    """Yield (offset, length without ``\\n``, line or None when longer than ``max_line``) from ``start``.

    Like :func:`lines_forward`, but also gives each line's length, so a checker can copy or quarantine
    a line it did not hold in memory.
    """
    previous: tuple[int, bytes | None] | None = None
    for offset, line in lines_forward(fd, start, end, max_line):
        if previous is not None:
            yield previous[0], offset - previous[0] - 1, previous[1]
        previous = (offset, line if isinstance(line, bytes) else None)
    if previous is not None:
        yield previous[0], end - previous[0] - 1, previous[1]
