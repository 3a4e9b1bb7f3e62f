"""Saved read positions: per identity and channel, the id of the last message that identity has fetched.

Kept in ``<data_dir>/cursors/<identity>.json`` so they survive restarts and lost agent contexts.
A position only moves forward, whatever order concurrent readers of one identity finish in.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote

from shared import locking
from shared.errors import StoreBusy, StoreError
from shared.fsutil import private_mkdir, write_atomically
from shared.models import normalize_sender, normalize_target

log = logging.getLogger("relay.cursors")


# Most file systems allow 255 bytes per name; a 64-character non-ASCII sender escapes to 700+.
_MAX_ESCAPED = 200


def identity_from_filename(name: str) -> str:
    """The (lower-cased) identity a cursor file belongs to; a shortened name ends in an ellipsis."""
    stem = name[: -len(".json")] if name.endswith(".json") else name
    stem, shortened, _ = stem.partition("~")
    decoded = unquote(stem, encoding="utf-8", errors="replace")
    return decoded + "\u2026" if shortened else decoded


def identity_filename(identity: str) -> str:
    """A file name for any sender string: ASCII letters, digits, '-' and '_' kept, the rest %XX-escaped.

    A name that would escape to more than 200 characters is cut there and ends in ``~`` plus a hash of
    the whole identity (``~`` is always escaped, so such a name never equals a plain escaped one).
    """
    folded = identity.lower().encode("utf-8")
    safe = []
    for byte in folded:
        char = chr(byte)
        safe.append(char if char.isascii() and (char.isalnum() or char in "-_") else f"%{byte:02X}")
    name = "".join(safe)
    if len(name) > _MAX_ESCAPED:
        name = name[:_MAX_ESCAPED] + "~" + hashlib.sha256(folded).hexdigest()[:32]
    return name + ".json"


class CursorStore:
    """Read positions of every identity, stored beside the channels."""

    def __init__(self, data_dir: Path, lock_timeout_s: float = 10.0, fsync: bool = False) -> None:
        self.dir = Path(data_dir) / "cursors"
        self.lock_timeout_s = lock_timeout_s
        self.fsync = fsync

    def _path(self, identity: str) -> Path:
        return self.dir / identity_filename(normalize_sender(identity))

    def _load(self, path: Path) -> dict[str, int]:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable read positions in %s: %s", path, exc)
            return {}
        if not isinstance(data, dict):
            return {}
        return {k: v for k, v in data.items() if isinstance(v, int) and not isinstance(v, bool) and v >= 0}

    def get(self, identity: str, target: str) -> int:
        """The saved position of ``identity`` in ``target`` (0 when it has never fetched there)."""
        return self._load(self._path(identity)).get(normalize_target(target), 0)

    def positions(self, target: str) -> dict[str, int]:
        """Every identity's saved position in ``target`` (identities lower-cased, as the files name them).

        Read without locks: each file is replaced atomically, so a reader sees the old or the new one.
        """
        target = normalize_target(target)
        found: dict[str, int] = {}
        try:
            entries = sorted(self.dir.glob("*.json"))
        except OSError:
            return found
        for path in entries:
            position = self._load(path).get(target)
            if position:
                found[identity_from_filename(path.name)] = position
        return found

    def advance(self, identity: str, target: str, latest_id: int) -> int:
        """Move the position forward to ``latest_id`` (never back) and return the saved value."""
        return self._update(identity, target, lambda old: max(old, latest_id))

    def reset(self, identity: str, target: str, position: int) -> int:
        """Set a position to exactly ``position`` (for a channel that was emptied or replaced)."""
        return self._update(identity, target, lambda old: position)

    def _update(self, identity: str, target: str, new_value: Callable[[int], int]) -> int:
        target = normalize_target(target)
        path = self._path(identity)
        lock_path = str(path) + ".lock"
        try:
            private_mkdir(self.dir)
            with locking.held(lock_path, self.lock_timeout_s):
                positions = self._load(path)
                old = positions.get(target, 0)
                value = new_value(old)
                if value != old:
                    positions[target] = value
                    data = json.dumps(positions, sort_keys=True).encode("utf-8")
                    write_atomically(path, data, what="the read position", fsync=self.fsync)
                return value
        except locking.LockTimeout:
            raise StoreBusy(f"store busy: the read positions of {identity!r} are locked; retry") from None
        except StoreError:
            raise
        except OSError as exc:
            raise StoreError(f"cannot save the read position in {path}: {exc.strerror or exc}") from None
