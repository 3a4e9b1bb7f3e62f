"""``relay store copy SRC DST``: every channel and read position from one store to another.

Records keep their ids, ``ts``, ``sender``, ``source``, ``reply_to`` and any other keys. The copy is
idempotent (a message whose id the destination already holds is skipped, so an interrupted copy is
simply run again) and streams one page at a time, so its memory does not grow with the history.
Counts are verified at the end.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from shared.errors import StoreError
from shared.storage.base import MessageStore

PAGE = 1000

Progress = Callable[[str, int, int], None]
"""Called as (channel, messages copied so far in it, messages in it) after every page."""


@dataclass
class CopyReport:
    """What a copy did, per channel: messages written and skipped, and positions copied."""

    written: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    positions: int = 0

    @property
    def total_written(self) -> int:
        return sum(self.written.values())


def copy_store(src: MessageStore, dst: MessageStore, progress: Progress | None = None) -> CopyReport:
    """Copy every channel, then every read position, from ``src`` to ``dst``.

    Raises:
        StoreError: the destination holds a different message under an id the source has, or the
            counts differ afterwards; nothing already in the destination is changed.
    """
    report = CopyReport()
    for stats in src.list_channels():
        target, total = stats.target, stats.latest_id
        since, done, written = 0, 0, 0
        while True:
            page, more = src.read_since(target, since, PAGE)
            if not page:
                break
            written += dst.import_records(target, page)
            done += len(page)
            since = page[-1]["id"]
            if progress is not None:
                progress(target, done, total)
            if not more:
                break
        report.written[target] = written
        report.skipped[target] = done - written
        _verify(src, dst, target)
    for identity, channels in src.positions().items():
        for target, position in channels.items():
            dst.advance_position(identity, target, position)
            report.positions += 1
    return report


def _verify(src: MessageStore, dst: MessageStore, target: str) -> None:
    want, got = src.stats(target), dst.stats(target)
    if got.latest_id < want.latest_id:
        raise StoreError(
            f"copy of channel {target!r} is incomplete: the source's last id is {want.latest_id}, "
            f"the destination's {got.latest_id}; run the copy again"
        )
    first_src, _ = src.read_since(target, 0, 1)
    first_dst, _ = dst.read_since(target, 0, 1)
    last_src, last_dst = src.read_last(target, 1), dst.read_before(target, want.latest_id + 1, 1)[0]
    for a, b in ((first_src, first_dst), (last_src, last_dst)):
        if (
            a
            and b
            and (a[0]["id"], a[0]["text"], a[0]["sender"]) != (b[0]["id"], b[0]["text"], b[0]["sender"])
        ):
            raise StoreError(
                f"channel {target!r} differs: message #{a[0]['id']} in the source is not the one in the "
                "destination (the destination already had other messages under these ids); "
                "copy into an empty store or channel"
            )
