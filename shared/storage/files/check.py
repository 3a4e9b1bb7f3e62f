"""``relay check``: find damage in the store's channel files, and repair it without deleting anything.

The rules of what counts as damage live here; the store does every file operation (``FileStore.scan``,
``FileStore.repair``, ``FileStore.move_aside``), so this module never opens a channel file itself.
"""

from __future__ import annotations

import json
import math
import os
from array import array
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from pathlib import Path

from shared.errors import StoreError
from shared.explain import json_error_text
from shared.models import normalize_target
from shared.records import odd_values
from shared.storage.files import jsonl
from shared.storage.files.store import SUFFIX, FileStore, ScannedLine
from shared.storage.report import CheckReport, Problem

ID_MAX = 2**63 - 1  # the largest id any store holds (PostgreSQL's bigint; the array below)
OURS = (".quarantine-", ".moved-")  # files relay check itself leaves beside a channel
LOCK_SUFFIX = ".lock"


class _LineRules:
    """Classifies the lines of one channel file, in order, as the readers would treat them."""

    def __init__(self, path: Path, max_line: int) -> None:
        self.path = path
        self.target = path.name[: -len(SUFFIX)]
        self.max_line = max_line
        self.problems: list[Problem] = []
        self.lines = 0
        self.last_id = 0
        self.ids = array("q")  # kept ids, increasing: tells a duplicate from an id that goes back

    def inspect(self, lines: Iterator[ScannedLine]) -> list[tuple[int, int]]:
        for line in lines:
            self.lines += 1
            kind, detail = self._judge(line)
            if kind:
                self.problems.append(Problem(self.path, line.number, kind, detail, line.offset, line.length))
        return [(p.offset, p.length) for p in self.problems if p.repairable]

    def _judge(self, line: ScannedLine) -> tuple[str, str]:
        if not line.complete:
            return "torn tail", (
                f"the last {line.length} byte(s) have no line end (a writer was killed mid-line, or is "
                "writing right now); readers ignore them and the next post cuts them off"
            )
        if line.data is None:
            return "oversize line", (
                f"{line.length} bytes, over the {self.max_line}-byte limit for one record; readers skip it"
            )
        if not line.data.strip():
            return "malformed line", "an empty line; readers skip it"
        try:
            line.data.decode("utf-8")
        except UnicodeDecodeError as exc:
            return "invalid UTF-8", f"byte {exc.start} of the line is not UTF-8; readers skip the line"
        record = jsonl.parse_record(line.data)
        if record is None:
            return "malformed line", f"{_why_not_a_record(line.data)}; readers skip it"
        record_id: int = record["id"]
        if record_id > ID_MAX:
            return "huge id", f"id {record_id} is over {ID_MAX}, more than a store can hold"
        if record_id <= self.last_id:
            where = bisect_left(self.ids, record_id)
            if where < len(self.ids) and self.ids[where] == record_id:
                return "duplicate id", f"id {record_id} was used by an earlier line; readers may skip it"
            return "non-increasing id", (
                f"id {record_id} comes after id {self.last_id}; ids must grow in file order"
            )
        if record_id > self.last_id + 1:
            first, last = self.last_id + 1, record_id - 1
            missing = f"{first}-{last}" if last > first else f"{first}"
            self.problems.append(
                Problem(
                    self.path,
                    line.number,
                    "id gap",
                    f"id(s) {missing} are missing before id {record_id} (lines removed by hand?); "
                    "reads still work, nothing to repair",
                    repairable=False,
                    error=False,
                )
            )
        self.last_id = record_id
        self.ids.append(record_id)
        for detail in odd_values(record, self.target):  # served all the same: a note, nothing to repair
            self.problems.append(
                Problem(self.path, line.number, "odd value", detail, repairable=False, error=False)
            )
        return "", ""


def _why_not_a_record(data: bytes) -> str:
    try:
        value = json.loads(data)
    except RecursionError:
        return "JSON nested too deeply"
    except json.JSONDecodeError as exc:
        return f"not valid JSON ({json_error_text(exc, with_line=False)})"
    except ValueError as exc:  # bytes that are not UTF-8
        return f"not valid JSON ({exc})"
    if not isinstance(value, dict):
        return f"a JSON {type(value).__name__}, not an object"
    wanted = ("id", "ts", "target", "sender", "text")
    missing = [key for key in wanted if key not in value]
    if missing:
        return f"a JSON object without {', '.join(missing)}"
    return f"a JSON object with a wrong type or value: {_first_bad_field(value)}"


def _first_bad_field(value: dict[str, object]) -> str:
    """Which required field makes an object no record (the rule is ``jsonl.parse_record``'s)."""
    record_id, ts = value["id"], value["ts"]
    if type(record_id) is not int or record_id < 1:
        return f"id {record_id!r:.40} is not a whole number >= 1"
    if isinstance(ts, bool) or not isinstance(ts, (int, float)):
        return f"ts {ts!r:.40} is not a number of seconds"
    if not math.isfinite(ts):
        return f"ts {ts!r} is not a finite number"
    wrong = next(key for key in ("target", "sender", "text") if not isinstance(value[key], str))
    return f"{wrong} is a JSON {_json_type(value[wrong])}, not a string"


def _json_type(value: object) -> str:
    names = {dict: "object", list: "array", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _classify_entry(name: str, kind: str) -> str:
    """'channel', 'ours' (quarantine and moved-aside files) or 'stray'."""
    stem = name[: -len(SUFFIX)] if name.endswith(SUFFIX) else None
    if stem is not None:
        try:
            if normalize_target(stem) == stem:
                return "channel"
        except ValueError:
            pass
        return "stray"
    base, sep, _ = name.partition(SUFFIX + ".")
    if sep and kind in ("file", "symlink") and any((SUFFIX + marker) in name for marker in OURS):
        try:
            if normalize_target(base) == base:
                return "ours"
        except ValueError:
            pass
    return "stray"


def check_store(store: FileStore, targets: Sequence[str] = (), *, repair: bool = False) -> CheckReport:
    """Check the given channels (every entry of the channels folder when none are given).

    With ``repair``, bad lines move to ``<target>.jsonl.quarantine-<UTC time>`` beside the channel and
    the channel file is rewritten atomically under its lock; a symlinked channel file is renamed aside
    (its target is never touched). Stray files are reported and left alone.
    """
    report = CheckReport()
    if store.channels_dir.is_symlink():
        report.problems.append(
            Problem(
                store.channels_dir,
                None,
                "symlink",
                "the channels folder is a symbolic link; keep the store's folders real directories",
                repairable=False,
            )
        )
    entries = dict(store.channel_entries())
    if targets:
        names = [normalize_target(t) + SUFFIX for t in targets]
        entries = {name: entries[name] for name in dict.fromkeys(names) if name in entries}
    for name, kind in sorted(entries.items()):
        path = store.channels_dir / name
        role = _classify_entry(name, kind)
        if role == "ours":
            continue
        if role == "stray":
            report.problems.append(
                Problem(
                    path,
                    None,
                    "stray file",
                    "not a channel file (channels are <name>.jsonl with a lower-case channel name); "
                    "the relay ignores it. Move it out of the channels folder",
                    repairable=False,
                )
            )
            continue
        if kind == "symlink":
            _check_symlink(store, name, path, report, repair)
        elif kind != "file":
            report.problems.append(
                Problem(
                    path,
                    None,
                    "not a regular file",
                    f"a {kind} where a channel file belongs; move it out of the channels folder",
                    repairable=False,
                )
            )
        else:
            _check_channel(store, name[: -len(SUFFIX)], path, report, repair)
    _check_lock_files(store, {normalize_target(t) for t in targets}, report, repair)
    return report


def _check_lock_files(store: FileStore, targets: set[str], report: CheckReport, repair: bool) -> None:
    """Report (and with ``repair`` move aside) a channel's lock file that is a link or not a file: the
    store refuses to lock it, so nobody could post to that channel."""
    for name, kind in store.channel_entries(locks=True):
        stem = name.removesuffix(LOCK_SUFFIX)
        if kind == "file" or stem == name or (targets and stem not in targets):
            continue
        try:
            if normalize_target(stem) != stem:
                continue
        except ValueError:
            continue
        path = store.locks_dir / name
        what = f"a symbolic link to {_destination(path)}" if kind == "symlink" else f"a {kind}"
        report.problems.append(
            Problem(
                path,
                None,
                "bad lock file",
                f"{what}; the relay locks only regular files, so channel "
                f"{stem!r} can take no post until it is moved aside",
            )
        )
        if repair:
            aside = store.move_lock_aside(name)
            report.repaired += 1
            report.actions.append(f"moved {path} aside to {aside} (a link's target was not touched)")


def _destination(path: Path) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return "?"


def _check_symlink(store: FileStore, name: str, path: Path, report: CheckReport, repair: bool) -> None:
    destination = _destination(path)
    report.problems.append(
        Problem(
            path,
            None,
            "symlink",
            f"a symbolic link to {destination}; the relay never follows links, so this channel can be "
            "neither read nor written",
        )
    )
    if repair:
        aside = store.move_aside(name)
        report.repaired += 1
        report.actions.append(f"moved the link {path} aside to {aside} (its target was not touched)")


def _check_channel(store: FileStore, target: str, path: Path, report: CheckReport, repair: bool) -> None:
    rules = _LineRules(path, store.max_line)
    try:
        store.scan(target, rules.inspect)
    except StoreError as exc:
        report.problems.append(Problem(path, None, "unreadable", str(exc), repairable=False))
        return
    report.files += 1
    if not repair or not any(p.repairable for p in rules.problems):
        report.lines += rules.lines
        report.problems.extend(rules.problems)
        return
    # Repair on what the file holds under the lock, which may have grown since the scan.
    locked = _LineRules(path, store.max_line)
    outcome = store.repair(target, locked.inspect)
    report.lines += locked.lines
    report.problems.extend(locked.problems)
    if outcome.quarantine is not None:
        report.repaired += outcome.moved
        report.actions.append(
            f"repaired {path}: moved {outcome.moved} line(s) to {outcome.quarantine}, "
            "rewrote the channel without them"
        )
