"""Store calls from an event loop: in place when nothing has to wait, on a worker thread when it would.

An append or a read-position update takes a file lock. Free (nearly always), the whole call costs tens
of microseconds, less than handing it to a thread and back; busy (another writer, or a stopped one),
waiting for it on the event loop would stall every other request of the server. So the call runs in
place with waiting forbidden, and only if a lock is busy does it run again, from the start, on a
worker thread that may wait. The calls run this way (a post, a fetch, the steps of a wait) write only
under the lock that could not be had, or repeat harmlessly (a read position reset to 0 is not reset
again), so the retry doubles nothing. Reads take no lock and run in place; a page bounds them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import anyio.to_thread

from shared.locking import WouldWait, without_waiting

T = TypeVar("T")


async def run(call: Callable[[], T]) -> T:
    """Return ``call()``, run here if it needs no lock that is busy, else on a worker thread."""
    try:
        with without_waiting():
            return call()
    except WouldWait:
        return await anyio.to_thread.run_sync(call)
