"""Store calls from an event loop: in place when nothing has to wait, on a worker thread when it would.

An append or a read-position update takes a file lock. Free (nearly always), the whole call costs tens
of microseconds, less than handing it to a thread and back; busy (another writer, or a stopped one),
waiting for it on the event loop would stall every other request of the server. So the call runs in
place with waiting forbidden, and only if a lock is busy does it run again, from the start, on a
worker thread that may wait. The calls run this way (a post, a fetch, the start of a wait) write only
under the lock that could not be had, or repeat harmlessly (a read position reset to 0 is not reset
again), so the retry doubles nothing.

Work that is slow without any lock goes straight to a thread (``in_place=False``): a page of large
messages (see ``Relay.small_fetch``), a post with ``fsync``, the final read of a wait (which may pass
over many of the caller's own messages).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import anyio.to_thread

from shared.storage.files.locking import WouldWait, without_waiting

T = TypeVar("T")


async def run(call: Callable[[], T], *, in_place: bool = True) -> T:
    """Return ``call()``, run here if ``in_place`` and it needs no lock that is busy, else on a thread."""
    if in_place:
        try:
            # Nothing in here may await: worker threads started meanwhile would copy the no-wait flag.
            with without_waiting():
                return call()
        except WouldWait:
            pass
    return await anyio.to_thread.run_sync(call)
