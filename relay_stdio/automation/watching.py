"""``relay watch``: run a command once per batch of new messages from one sender, one run at a time.

The rules, each one a test in tests/test_watch.py:

* A *batch* is every message from SENDER after the saved position, read when the first of them is
  seen. Messages that arrive while the command runs belong to the next batch.
* The command runs with RELAY_TARGET, RELAY_SINCE_ID (the saved position), RELAY_LATEST_ID (the
  batch's last id), RELAY_SENDER, RELAY_IDS, RELAY_COUNT and RELAY_TRUST_NOTE (the framing a prompt
  must put around the messages, see shared/trust.py) in its environment, and
  CLAUDE_CODEX_DATA_DIR set to this store so the agents it starts meet the watcher there.
* The position is saved (atomically, in the state file) only after the command exits with status 0.
  A failed batch is not lost: it is run again, together with whatever came since, when the next
  message from SENDER arrives, or at once when the watcher restarts.
* One watcher per state file: the second one finds the state file's lock taken and refuses.
* The loop guard (shared/loopguard.py): a batch whose last message comes after ``loop_guard`` agent
  messages in a row, while the channel is still paused, is not run; the position stays, and the
  watcher waits for any new message: once a person has written, the held batch runs (with whatever
  came since).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import filelock

from shared.errors import RelayError, StoreError
from shared.fsutil import FILE_MODE, identity_filename, private_mkdir, write_atomically
from shared.loopguard import LoopGuard
from shared.models import FETCH_LIMIT_MAX, normalize_sender, normalize_target
from shared.relay import Relay
from shared.trust import untrusted_framing
from shared.waiting import POLL_S, ChannelWatch, message_filter, wait_sync

log = logging.getLogger("relay.watch")

TIMED_OUT = 124
"""Exit status when --timeout passes with no batch, as timeout(1) uses."""


class WatchBusy(RelayError):
    """Another watcher holds the state file's lock."""


@dataclass(frozen=True)
class Batch:
    """The messages one run of the command handles."""

    target: str
    sender: str
    since_id: int
    latest_id: int
    ids: tuple[int, ...]

    def environment(self, data_dir: Path) -> dict[str, str]:
        """The variables the command gets on top of the watcher's environment."""
        return {
            "RELAY_TARGET": self.target,
            "RELAY_SENDER": self.sender,
            "RELAY_SINCE_ID": str(self.since_id),
            "RELAY_LATEST_ID": str(self.latest_id),
            "RELAY_IDS": " ".join(str(i) for i in self.ids),
            "RELAY_COUNT": str(len(self.ids)),
            "RELAY_DATA_DIR": str(data_dir),
            "CLAUDE_CODEX_DATA_DIR": str(data_dir),
            # For a command that hands the batch to a model: say whose messages they are (untrusted).
            "RELAY_TRUST_NOTE": untrusted_framing(self.target, [self.sender]),
        }


def _anyone(record: object) -> bool:
    return True


def default_state_file(data_dir: Path, target: str, sender: str) -> Path:
    """``<data_dir>/watch/<target>--<sender>.json``: one position per channel and watched sender."""
    name = identity_filename(normalize_sender(sender))[: -len(".json")]
    return Path(data_dir) / "watch" / f"{normalize_target(target)}--{name}.json"


class WatchState:
    """The last id a watcher handled, in a small JSON file replaced atomically on every save."""

    def __init__(self, path: Path, target: str, sender: str) -> None:
        self.path = Path(path)
        self.target = target
        self.sender = sender

    def load(self) -> int | None:
        """The saved position, or None when there is no state file yet."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise StoreError(
                f"the watch state file {self.path} cannot be read ({exc}); fix or delete it "
                "(deleting it makes the watcher start from the newest message)"
            ) from None
        position = data.get("position") if isinstance(data, dict) else None
        if isinstance(position, bool) or not isinstance(position, int) or position < 0:
            raise StoreError(f"the watch state file {self.path} has no valid 'position'; fix or delete it")
        return position

    def save(self, position: int) -> None:
        """Write the position (and what it belongs to) atomically: a crash leaves the old or the new file.

        Other keys in the file (``remember``) are kept.
        """
        record = {"target": self.target, "from": self.sender, "position": position, "updated": time.time()}
        self._write({**self._raw(), **record})

    def recall(self, key: str) -> str | None:
        """A string the watcher's command kept in the state file (e.g. the Codex session it resumes)."""
        value = self._raw().get(key)
        return value if isinstance(value, str) and value else None

    def remember(self, key: str, value: str | None) -> None:
        """Keep ``value`` under ``key`` next to the position (None forgets it)."""
        record = {k: v for k, v in self._raw().items() if k != key}
        if value is not None:
            record[key] = value
        self._write(record)

    def _raw(self) -> dict[str, object]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _write(self, record: dict[str, object]) -> None:
        write_atomically(self.path, json.dumps(record).encode("utf-8"), what="the watch position")

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the state file's lock for the watcher's lifetime; refuse at once if another holds it."""
        lock_path = Path(str(self.path) + ".lock")
        try:
            private_mkdir(lock_path.parent)
            lock = filelock.FileLock(lock_path, timeout=0, mode=FILE_MODE, preserve_lock_file=True)
            lock.acquire()
        except filelock.Timeout:
            raise WatchBusy(
                f"another relay watch is already running with the state file {self.path} (its lock "
                f"{lock_path} is held). Stop that one first, or give this one its own --state-file"
            ) from None
        except OSError as exc:
            raise StoreError(f"cannot lock the watch state file {lock_path}: {exc.strerror or exc}") from None
        try:
            yield
        finally:
            lock.release()


def run_command(command: str, batch: Batch, data_dir: Path) -> int:
    """Run ``command`` through the shell for one batch and return its exit status.

    Its stdin is empty (tools such as ``codex exec`` read piped stdin and would wait for it); its
    output goes where the watcher's goes.
    """
    env = {**os.environ, **batch.environment(data_dir)}
    return subprocess.run(command, shell=True, env=env, stdin=subprocess.DEVNULL, check=False).returncode


class Watcher:
    """Waits for batches from one sender on one channel and hands them to ``run``, strictly one at a time.

    Args:
        relay: the channels.
        target: the channel to watch.
        sender: whose messages make a batch.
        state: where the position is kept.
        run: handles a batch and returns an exit status (0 = done, the position moves on).
        report: receives one line per event, for the person running the watcher.
        poll_s: how often the channel's change token is compared.
    """

    def __init__(
        self,
        relay: Relay,
        target: str,
        sender: str,
        state: WatchState,
        run: Callable[[Batch], int],
        report: Callable[[str], None] = log.info,
        poll_s: float = POLL_S,
    ) -> None:
        self.relay = relay
        self.target = normalize_target(target)
        self.sender = normalize_sender(sender)
        self.state = state
        self.run_batch = run
        self.report = report
        self.poll_s = poll_s
        self.accept = message_filter(None, self.sender)
        self.guard = LoopGuard(relay.config.loop_guard)

    def held(self, batch: Batch) -> bool:
        """Whether the loop guard holds ``batch`` back: its last message may not wake an agent, and no
        person has written since."""
        last, _ = self.relay.store.read_since(self.target, batch.latest_id - 1, 1)
        if not last or self.guard.allows(self.relay.store, self.target, last[0]):
            return False
        return bool(self.guard.status(self.relay.store, self.target)["paused"])

    def start_position(self, since: int | None) -> int:
        """The saved position; on the first start ``since``, else the channel's newest id (only new ones)."""
        latest = self.relay.store.stats(self.target).latest_id
        position = self.state.load()
        if position is None:
            position = latest if since is None else since
            self.state.save(position)
        elif position > latest:
            self.report(
                f"position #{position} is past the end of {self.target} (#{latest}); starting over at 0"
            )
            position = 0
            self.state.save(position)
        return position

    def collect(self, position: int) -> Batch:
        """Every message from the sender after ``position``, as the channel is now."""
        ids: list[int] = []
        cursor = position
        while True:
            page, more = self.relay.store.read_since(self.target, cursor, FETCH_LIMIT_MAX)
            ids.extend(record["id"] for record in page if self.accept(record))
            if not more:
                break
            cursor = page[-1]["id"]
        return Batch(self.target, self.sender, position, ids[-1], tuple(ids))

    def watch(self, *, once: bool = False, timeout_s: float | None = None, since: int | None = None) -> int:
        """Run batches until stopped (or one with ``once``); returns the last status, or TIMED_OUT."""
        with self.state.locked():
            position = self.start_position(since)
            wait_after = position  # after a failure: wait for something newer than the failed batch
            self.report(f"watching {self.target} for messages from {self.sender} after #{position}")
            accept = self.accept
            while True:
                watch = ChannelWatch(self.relay.store, self.target, wait_after, accept)
                accept = self.accept
                if wait_sync(watch, timeout_s, self.poll_s) is None:
                    self.report(f"no new message from {self.sender} within {timeout_s:g} s")
                    return TIMED_OUT
                batch = self.collect(position)
                self.report(
                    f"batch #{batch.since_id + 1}..#{batch.latest_id}: {len(batch.ids)} message(s) "
                    f"from {self.sender}"
                )
                if self.held(batch):
                    wait_after = self.relay.store.stats(self.target).latest_id
                    accept = _anyone  # a person's message is what resumes it
                    self.report(self.guard.note(self.target))
                    continue
                status = self.run_batch(batch)
                if status == 0:
                    position = wait_after = batch.latest_id
                    self.state.save(position)
                else:
                    wait_after = batch.latest_id
                    self.report(
                        f"the command failed (exit status {status}); position kept at #{position}, so "
                        f"this batch is run again with the next message from {self.sender} or on restart"
                    )
                if once:
                    return status
