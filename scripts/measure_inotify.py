#!/usr/bin/env python3
"""The inotify instances relay-stdio processes hold, during concurrent waits and after they end.

Starts ``--processes`` real relay-stdio processes on one data dir (over stdio, with the official MCP
client), has each serve ``--waits`` concurrent wait_for_messages calls, and counts every process's
descriptors that link to ``anon_inode:inotify`` in /proc: once all the waits are asleep, right after
one post has woken them all, and again a few seconds later. The user's limit is
/proc/sys/fs/inotify/max_user_instances (128 by default), shared with every other program they run.

    .venv/bin/python scripts/measure_inotify.py --processes 16 --waits 8

Linux only. To measure another version of the code, put its tree first on PYTHONPATH and run from
outside this checkout (``python -m relay_stdio`` puts the working directory first), for example
``git archive 7e6a277 shared relay_stdio | tar -x -C /tmp/base`` then, from /tmp,
``PYTHONPATH=/tmp/base <repo>/.venv/bin/python <repo>/scripts/measure_inotify.py --processes 4``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from pathlib import Path

import anyio
from mcp import Client, StdioServerParameters

from shared.storage.files.store import FileStore

SETTLE_S = 3.0
"""How long after the waits end to count again (the relay keeps an idle instance about a second)."""


def inotify_instances(pid: int) -> int:
    count = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            count += os.readlink(fd) == "anon_inode:inotify"
    return count


def relay_children() -> list[int]:
    """The relay-stdio processes this script started (its children running ``-m relay_stdio``)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if parent == os.getpid() and b"relay_stdio" in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
    return found


async def measure(processes: int, waits: int, data_dir: Path) -> dict[str, int]:
    FileStore(data_dir).append("measure", "setup", "creates the channel")
    asleep = 0
    all_asleep = anyio.Event()

    async def wait(client: Client) -> None:
        reported = False

        async def progress(waited: float, total: float | None, message: str | None) -> None:
            nonlocal asleep, reported
            if not reported:  # the first report comes once the wait has looked and found nothing
                reported, asleep = True, asleep + 1
                if asleep == processes * waits:
                    all_asleep.set()

        arguments = {"target": "measure", "since_id": 1, "timeout_s": 120}
        result = await client.call_tool("wait_for_messages", arguments, progress_callback=progress)
        assert not result.is_error, result.content

    counts: dict[str, int] = {}
    async with AsyncExitStack() as stack:
        clients = []
        for index in range(processes):
            server = StdioServerParameters(
                command=sys.executable,
                args=["-m", "relay_stdio", "--data-dir", str(data_dir), "--sender", f"waiter-{index}"],
                env=dict(os.environ),
            )
            clients.append(await stack.enter_async_context(Client(server)))
        pids = relay_children()
        assert len(pids) == processes, pids
        async with anyio.create_task_group() as group:
            for client in clients:
                for _ in range(waits):
                    group.start_soon(wait, client)
            with anyio.fail_after(120):
                await all_asleep.wait()
            counts["during the waits"] = sum(map(inotify_instances, pids))
            FileStore(data_dir).append("measure", "poster", "wakes every wait")
        counts["right after they end"] = sum(map(inotify_instances, pids))
        await anyio.sleep(SETTLE_S)
        counts[f"{SETTLE_S:g} s later"] = sum(map(inotify_instances, pids))
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--processes", type=int, default=16)
    parser.add_argument("--waits", type=int, default=8, help="concurrent waits per process")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        started = time.monotonic()
        counts = anyio.run(measure, options.processes, options.waits, Path(folder) / "data")
    print(f"{options.processes} relay-stdio processes x {options.waits} concurrent waits:")
    for moment, count in counts.items():
        print(f"  inotify instances held {moment}: {count}")
    print(f"  (limit per user: {Path('/proc/sys/fs/inotify/max_user_instances').read_text().strip()}; "
          f"run took {time.monotonic() - started:.1f} s)")  # fmt: skip


if __name__ == "__main__":
    main()
