#!/usr/bin/env python3
"""Threads and descriptors left behind by "store busy" errors: N posts time out against a held lock.

Usage:
    scripts/busy_leaks.py            # 50 busy posts
    scripts/busy_leaks.py --count 200

Another process holds the channel's lock (an ``flock`` on ``locks/t.lock``, as the store takes it)
while this one posts N times with a 20 ms bound; the script prints this process's threads and open
descriptors before, right after the N errors, and once the holder has let go.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from shared.errors import StoreBusy
from shared.storage.files.store import FileStore

HOLD = (
    "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR); fcntl.flock(fd, fcntl.LOCK_EX); "
    "print(flush=True); sys.stdin.read()"
)


def counts() -> tuple[int, int]:
    return threading.active_count(), len(os.listdir("/proc/self/fd"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50, help="busy posts to make (default 50)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="relay-busy-") as tmp:
        store = FileStore(Path(tmp), lock_timeout_s=0.02)
        store.append("t", "a", "first")
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLD, str(store.locks_dir / "t.lock")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert holder.stdout is not None and holder.stdin is not None
        holder.stdout.readline()  # the lock is held
        before = counts()
        busy = 0
        for _ in range(args.count):
            try:
                store.append("t", "a", "never posted")
            except StoreBusy:
                busy += 1
        during = counts()
        holder.stdin.close()
        holder.wait()
        for _ in range(500):
            if counts() == before:
                break
            time.sleep(0.01)
        after = counts()
        print(f"{busy} store busy errors")
        for name, index in (("threads", 0), ("descriptors", 1)):
            print(
                f"{name + ':':13}{before[index]} before, {during[index]} after the errors, "
                f"{after[index]} once the lock is free (the holder's pipes closed)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
