"""Saved read positions: per identity and channel, the id of the last message that identity has fetched.

Kept in ``<data_dir>/cursors/<identity>.json`` so they survive restarts and lost agent contexts.
A position only moves forward, whatever order concurrent readers of one identity finish in.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote

from shared.errors import StoreBusy, StoreError
from shared.fsutil import identity_filename, private_mkdir, write_atomically
from shared.models import normalize_sender, normalize_target
from shared.storage.files import locking

log = logging.getLogger("relay.cursors")

IDENTITY_KEY = "_identity"
"""Where a positions file names its identity (a channel name never starts with '_')."""


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

    def all(self) -> dict[str, dict[str, int]]:
        """Every saved position: identity (lower-cased) -> channel -> id."""
        found: dict[str, dict[str, int]] = {}
        try:
            paths = sorted(self.dir.glob("*.json"))
        except OSError:
            return found
        for path in paths:
            positions = self._load(path)
            try:
                named = json.loads(path.read_text(encoding="utf-8")).get(IDENTITY_KEY)
            except (OSError, ValueError, AttributeError):
                named = None
            identity = named if isinstance(named, str) else unquote(path.stem)
            if "~" in path.stem and not isinstance(named, str):
                log.warning("skipping %s: its identity is too long to recover from the file name", path)
                continue
            if positions:
                found[identity.lower()] = positions
        return found

    def get(self, identity: str, target: str) -> int:
        """The saved position of ``identity`` in ``target`` (0 when it has never fetched there)."""
        return self._load(self._path(identity)).get(normalize_target(target), 0)

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
                    # The identity itself, for listing positions: a long one's file name is cut and hashed.
                    named: dict[str, object] = {**positions, IDENTITY_KEY: normalize_sender(identity)}
                    data = json.dumps(named, sort_keys=True).encode("utf-8")
                    write_atomically(path, data, what="the read position", fsync=self.fsync)
                return value
        except locking.LockTimeout:
            raise StoreBusy(f"store busy: the read positions of {identity!r} are locked; retry") from None
        except StoreError:
            raise
        except OSError as exc:
            raise StoreError(f"cannot save the read position in {path}: {exc.strerror or exc}") from None
