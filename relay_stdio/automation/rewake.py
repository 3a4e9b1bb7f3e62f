"""``relay hook claude-rewake``: a background hook that wakes an idle Claude Code session with a message.

Claude Code runs a command hook with ``"asyncRewake": true`` in the background; when it exits with
status 2, its stderr is shown to the model as a blocking message and wakes the session if it is idle.
The relay registers it on SessionStart and Stop (``relay setup claude --rewake``), so from the end of
every turn one waiter sits in the background until someone else posts.

The rules (tests/e2e/test_rewake.py runs each with real processes):

* **Only what is new.** It wakes for a message posted after it started (after the read position, the
  session's pending handout and the channel's newest message at that moment): what was already unread
  at a Stop is the Stop hook's to hand over, at SessionStart the context hook's, so nothing is handed
  twice. What it hands over is recorded like a hook's handout (``handouts.py``): it counts as read
  at the session's next Stop.
* **One per session.** A pid file per session, identity and channel in ``<data_dir>/hooks``: a new
  waiter takes over (it stops the older one with SIGTERM, and an older one that sees the file name
  another process exits by itself).
* **A bounded life, no orphans.** It exits (status 0, nothing said) after ``lifetime_s``, and as soon as
  any process that started it (Claude Code, the shell between) is gone.
* The loop guard is asked first; a held message does not wake the session.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relay_stdio.automation.handouts import Handouts
from relay_stdio.automation.hooks import HookOptions
from shared.fsutil import write_atomically
from shared.loopguard import LoopGuard
from shared.relay import Relay
from shared.waiting import wait_for_messages_sync
from shared.workflow import continuation_reason

DEFAULT_LIFETIME_S = 3600
CHECK_S = 0.5  # how often the waiter looks at its pid file and its ancestors between waits


class WaiterSlot:
    """The pid file that makes a waiter the only one of its session."""

    def __init__(self, data_dir: Path, session_id: object, identity: str, target: str) -> None:
        key = hashlib.sha256(f"{session_id or 'unknown'}\n{identity}\n{target}".encode()).hexdigest()[:24]
        self.path = Path(data_dir) / "hooks" / f"claude-rewake-{key}.pid"

    def holder(self) -> int | None:
        try:
            return int(self.path.read_text(encoding="ascii").strip())
        except (OSError, ValueError):
            return None

    def claim(self) -> None:
        """Become this session's waiter: stop the older one (if it still runs), then name this process."""
        older = self.holder()
        if older is not None and older != os.getpid() and _is_waiter(older):
            with contextlib.suppress(OSError):  # it ended meanwhile
                os.kill(older, signal.SIGTERM)
        write_atomically(self.path, str(os.getpid()).encode("ascii"), what="the rewake hook's pid file")

    def mine(self) -> bool:
        return self.holder() == os.getpid()

    def release(self) -> None:
        if self.mine():
            self.path.unlink(missing_ok=True)


def _is_waiter(pid: int) -> bool:
    """Whether ``pid`` is a rewake waiter (so a reused pid of another program is never signalled)."""
    try:
        return b"claude-rewake" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def _start_time(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22, starttime: tells a pid reused from the original


def _parent(pid: int) -> int:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


@dataclass(frozen=True)
class Ancestors:
    """The processes that started this one (up to, not including, pid 1), to notice when one is gone."""

    chain: tuple[tuple[int, str | None], ...]
    ppid: int

    @classmethod
    def now(cls) -> Ancestors:
        chain: list[tuple[int, str | None]] = []
        pid = os.getppid()
        while pid > 1 and len(chain) < 64:
            chain.append((pid, _start_time(pid)))
            pid = _parent(pid)
        return cls(tuple(chain), os.getppid())

    def alive(self) -> bool:
        if os.getppid() != self.ppid:
            return False  # re-parented: whoever started it is gone
        return all(start is None or _start_time(pid) == start for pid, start in self.chain)


def rewake_text(
    relay: Relay, payload: dict[str, Any], options: HookOptions, lifetime_s: float = DEFAULT_LIFETIME_S
) -> str | None:
    """Wait for the next message and return what wakes the session with it, or None (taken over, timed
    out, or the session is gone)."""
    slot = WaiterSlot(relay.config.data_dir, payload.get("session_id"), options.identity, options.target)
    handouts = Handouts(relay.config.data_dir, payload.get("session_id"), options.identity, options.target)
    ancestors = Ancestors.now()  # before the pid file says it runs: whoever sees that may end the parent
    slot.claim()
    try:
        start = max(
            relay.read_position(options.identity, options.target),
            handouts.pending() or 0,
            relay.store.stats(options.target).latest_id,
        )
        deadline = time.monotonic() + lifetime_s
        while time.monotonic() < deadline and slot.mine() and ancestors.alive():
            wait_s = min(CHECK_S, max(0.0, deadline - time.monotonic()))
            result = wait_for_messages_sync(
                relay,
                options.target,
                identity=options.identity,
                since_id=start,
                timeout_s=wait_s,
                from_sender=options.from_sender,
            )
            if not result["messages"]:
                continue
            if not LoopGuard(relay.config.loop_guard).allows(
                relay.store, options.target, result["messages"][-1]
            ):
                start = result["latest_id"]  # held: wait for the next message (a person's resumes it)
                continue
            if not options.dry_run:
                handouts.record(result["latest_id"], "rewake")
            return continuation_reason(
                options.target, result["messages"], options.max_chars, result["latest_id"]
            )
        return None
    finally:
        slot.release()
