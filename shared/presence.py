"""Who is active in a channel, from what the relay already knows: read receipts and presence.

* **Read receipts**: every identity's saved read position (``MessageStore.positions``). An identity has
  read a message when its position is at or past the message's id.
* **Last post**: the newest message of each sender among the channel's last ``RECENT_MESSAGES``.
* **Waiting now**: a wait (``wait_for_messages``, the hooks, ``relay hook``) writes one small file,
  ``<data_dir>/presence/<pid>-<n>.json``, when it starts and removes it when it ends. A file whose
  process is gone (killed mid-wait) is ignored and removed by the next reader. The folder is local
  to each machine, like the logs: waits on another machine sharing a networked store do not show.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from shared.fsutil import private_mkdir, write_atomically
from shared.models import Message, normalize_target
from shared.storage import MessageStore

log = logging.getLogger("relay.presence")

PRESENCE_DIR = "presence"
RECENT_MESSAGES = 500
"""How far back "last post" looks: enough for a working session, a bounded read on any channel."""
_counter = itertools.count(1)
_counter_lock = threading.Lock()


def _presence_dir(data_dir: Path) -> Path:
    return Path(data_dir) / PRESENCE_DIR


@contextmanager
def waiting(data_dir: Path, identity: str | None, target: str) -> Iterator[None]:
    """Mark ``identity`` as waiting on ``target`` while the block runs.

    Presence is a courtesy to the people watching: failing to record it (a full disk, a read-only
    data dir) is logged and the wait goes on.
    """
    with _counter_lock:
        number = next(_counter)
    path = _presence_dir(data_dir) / f"{os.getpid()}-{number}.json"
    record = {"identity": identity or "?", "target": target, "since": round(time.time(), 3)}
    record["pid"] = os.getpid()
    written = False
    try:
        private_mkdir(path.parent)
        write_atomically(path, json.dumps(record).encode("utf-8"), what="the presence record", fsync=False)
        written = True
    except OSError as exc:
        log.warning("could not record that %s is waiting on %s: %s", identity, target, exc)
    try:
        yield
    finally:
        if written:
            path.unlink(missing_ok=True)


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def waiters(data_dir: Path, target: str) -> list[dict[str, Any]]:
    """``{"identity", "since"}`` of every live wait on ``target``, the longest-waiting first."""
    target = normalize_target(target)
    found = []
    try:
        paths = list(_presence_dir(data_dir).glob("*.json"))
    except OSError:
        return []
    for path in paths:
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue  # removed while listing, or half-replaced: the next look sees it
        if not isinstance(record, dict):
            continue
        if not _alive(record.get("pid")):
            path.unlink(missing_ok=True)  # its process died mid-wait
            continue
        if record.get("target") == target and isinstance(record.get("since"), (int, float)):
            found.append({"identity": str(record.get("identity")), "since": float(record["since"])})
    return sorted(found, key=lambda w: w["since"])


def _last_posts(messages: list[Message]) -> dict[str, Message]:
    latest: dict[str, Message] = {}
    for record in messages:  # oldest first: later ones replace earlier ones
        sender = record.get("sender")
        if isinstance(sender, str) and sender.strip():
            latest[sender.strip().casefold()] = record
    return latest


def channel_presence(store: MessageStore, data_dir: Path, target: str) -> dict[str, Any]:
    """Per identity in ``target``: its last post, how far it has read, and whether it waits now.

    Returns:
        ``{"target", "latest_id", "members": [{"identity", "last_post_id", "last_post_ts", "read_id",
        "waiting_since"}]}``, the most recently active first. Identities are matched case-insensitively
        and shown as their last post spelled them.
    """
    target = normalize_target(target)
    recent = store.read_last(target, RECENT_MESSAGES)
    posts = _last_posts(recent)
    reads = {
        identity.casefold(): channels[target]
        for identity, channels in store.positions().items()
        if channels.get(target)
    }
    waits: dict[str, float] = {}
    names: dict[str, str] = {}
    for wait in waiters(data_dir, target):
        key = wait["identity"].casefold()
        waits.setdefault(key, wait["since"])
        names.setdefault(key, wait["identity"])
    names.update({key: str(record["sender"]).strip() for key, record in posts.items()})
    members = []
    for key in sorted(set(posts) | set(reads) | set(waits)):
        post = posts.get(key)
        members.append(
            {
                "identity": names.get(key, key),
                "last_post_id": post["id"] if post else None,
                "last_post_ts": post["ts"] if post else None,
                "read_id": reads.get(key, 0),
                "waiting_since": waits.get(key),
            }
        )
    members.sort(key=_activity, reverse=True)
    latest = recent[-1]["id"] if recent else 0
    return {"target": target, "latest_id": latest, "members": members}


def _activity(member: dict[str, Any]) -> tuple[int, float, int]:
    """Waiting now first, then by the time of the last post, then by how far the member has read."""
    waiting_now = 1 if member["waiting_since"] is not None else 0
    return (waiting_now, member["last_post_ts"] or 0.0, member["read_id"])
