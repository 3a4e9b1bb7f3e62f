"""What the Claude Code hooks handed to a session and do not yet know the model saw.

A hook's answer is only text Claude Code *may* put in front of the model: the model call can still
fail (Claude Code then ends the turn with StopFailure), or the session can be closed first. Moving the
read position when the hook answers would lose such a message for good. So a hook records its handout
here, per session, identity and channel, and the read position moves only on evidence that a turn of
that session ran with it: the session's next Stop hook (Claude Code runs Stop only after a turn
finished; a failed model call runs StopFailure instead). Until then:

* the same session is not handed the pending messages again (they are already in its context); its
  next hook hands only newer ones, and the record grows to cover both;
* any other session reads from the unmoved position, so it is handed them again.

The exact rule is documented in docs/claude.md and docs/automation.md, and tested in
tests/test_hooks.py and tests/e2e/test_hook_handouts.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from pathlib import Path

from shared.errors import StoreError


class Handouts:
    """The pending handout of one session on one channel for one identity, in ``<data_dir>/hooks``.

    One small file per (session, identity, channel), so hooks of one session registered for two
    channels (Claude Code runs an event's hooks in parallel) never write the same file.
    """

    def __init__(self, data_dir: Path, session_id: object, identity: str, target: str) -> None:
        key = f"{session_id or 'unknown'}\n{identity}\n{target}".encode()
        name = hashlib.sha256(key).hexdigest()[:24]
        self.path = Path(data_dir) / "hooks" / f"claude-handout-{name}.json"

    def pending(self) -> int | None:
        """The last id handed to this session and not yet confirmed, or None."""
        try:
            value = json.loads(self.path.read_text(encoding="utf-8")).get("through")
        except (OSError, ValueError, AttributeError):
            return None  # no record (or a damaged one): nothing is pending, the position is the truth
        return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None

    def record(self, through: int, event: str) -> None:
        """Remember that this session was handed every message up to ``through`` by ``event``."""
        data = {"through": through, "event": event, "at": time.time()}
        try:
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".handout-", suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle)
            os.replace(tmp, self.path)
        except OSError as exc:
            reason = exc.strerror or exc
            raise StoreError(f"cannot record the hook's handout in {self.path}: {reason}") from None

    def clear(self) -> None:
        """Forget the handout once the read position has moved past it."""
        self.path.unlink(missing_ok=True)
