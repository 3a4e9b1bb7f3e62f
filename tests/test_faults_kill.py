"""Writers killed with SIGKILL at random moments: every acknowledged post is kept exactly once.

Writers are real processes forked from a ``forkserver`` that has the store preloaded, so a run can kill
hundreds of them in well under a minute. Each writer appends ``target id seq`` to its own ack file after
every post that returned; concurrent reader processes validate every record they are served.
Set ``RELAY_FAULT_KILLS`` (default 220) and ``RELAY_FAULT_SEED`` to vary or replay a run.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import os
import random
import signal
import time
from multiprocessing.context import ForkServerContext
from multiprocessing.process import BaseProcess
from pathlib import Path

import pytest

from shared.storage.files.store import FileStore
from tests import fault_workers
from tests.reliability import count, note

KILLS = int(os.environ.get("RELAY_FAULT_KILLS", "220"))
ROUNDS = [("store", False), ("relay", False), ("store", True), ("mixed", False)]
WRITERS_ALIVE = 3
READERS = 2
TARGETS = ["k1", "k2"]


def forkserver() -> ForkServerContext:
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["tests.fault_workers"])
    return ctx


class Writers:
    """Starts writer processes for one round and kills them."""

    def __init__(self, ctx: ForkServerContext, work: Path, rng: random.Random) -> None:
        self.ctx, self.work, self.rng = ctx, work, rng
        self.started = 0
        self.kills = 0

    def spawn(self, round_no: int, mode: str, fsync: bool) -> BaseProcess:
        self.started += 1
        name = f"r{round_no}w{self.started}"
        if mode == "mixed":
            mode = self.rng.choice(["store", "relay"])
        args = (
            str(self.work / "data"),
            name,
            TARGETS,
            str(self.work / "acks" / f"{name}.acks"),
            mode,
            fsync,
            str(self.work / "logs" / f"{name}.log"),
        )
        proc = self.ctx.Process(target=fault_workers.writer, args=args, name=name)
        proc.start()
        return proc

    def kill(self, proc: BaseProcess) -> None:
        """Kill a writer at a random moment after it began posting (its ack file exists)."""
        acks = self.work / "acks" / f"{proc.name}.acks"
        deadline = time.monotonic() + 60
        while not acks.exists() and proc.is_alive() and time.monotonic() < deadline:
            time.sleep(0.001)
        time.sleep(self.rng.uniform(0.0, 0.03))
        proc.kill()
        proc.join(60)
        log = self.work / "logs" / f"{proc.name}.log"
        why = log.read_text() if log.exists() else ""
        assert proc.exitcode == -signal.SIGKILL, (proc.name, proc.exitcode, why)
        proc.close()
        self.kills += 1


@pytest.mark.slow
def test_writers_killed_at_random_moments_lose_nothing(tmp_path: Path) -> None:
    seed = int(os.environ.get("RELAY_FAULT_SEED", random.randrange(2**32)))
    note("kill.seed", str(seed))
    print(f"RELAY_FAULT_SEED={seed}")
    rng = random.Random(seed)
    for folder in ("data", "acks", "logs"):
        (tmp_path / folder).mkdir()
    ctx = forkserver()
    writers = Writers(ctx, tmp_path, rng)
    stop = tmp_path / "stop"
    readers = [
        ctx.Process(
            target=fault_workers.reader,
            args=(str(tmp_path / "data"), TARGETS, str(stop), str(tmp_path / f"reader-{i}.json"), seed + i),
        )
        for i in range(READERS)
    ]
    for proc in readers:
        proc.start()
    alive: list[BaseProcess] = []
    try:
        per_round = math.ceil(KILLS / len(ROUNDS))
        for round_no, (mode, fsync) in enumerate(ROUNDS):
            alive = [writers.spawn(round_no, mode, fsync) for _ in range(WRITERS_ALIVE)]
            for _ in range(per_round - WRITERS_ALIVE):
                writers.kill(alive.pop(rng.randrange(len(alive))))
                alive.append(writers.spawn(round_no, mode, fsync))
            while alive:  # the round ends with every remaining writer killed too
                writers.kill(alive.pop())
    finally:
        for proc in alive:
            proc.kill()
        stop.touch()
        for proc in readers:
            proc.join(120)
    assert [proc.exitcode for proc in readers] == [0] * READERS

    data = FileStore(tmp_path / "data")
    torn_at_end = sum(1 for t in TARGETS if not data.channel_path(t).read_bytes().endswith(b"\n"))
    # The next writer repairs any torn tail and continues the ids.
    final_acks = tmp_path / "acks" / "final.acks"
    for seq, target in enumerate(TARGETS):
        record = data.append(target, "final", fault_workers.text_for("final", seq))
        with final_acks.open("a") as out:
            out.write(f"{target} {record['id']} {seq}\n")

    acked = fault_workers.read_acks((tmp_path / "acks").glob("*.acks"))
    checked = [fault_workers.check_channel_file(data.channel_path(t), t, acked.get(t, {})) for t in TARGETS]
    summaries = [json.loads((tmp_path / f"reader-{i}.json").read_text()) for i in range(READERS)]
    for summary in summaries:
        assert summary["errors"] == [], summary["errors"]
        assert summary["reads"] > 0
    torn_repaired = torn_at_end + sum(
        path.read_text(errors="replace").count("removing a torn last line")
        for path in (tmp_path / "logs").glob("*.log")
    )
    assert writers.kills >= KILLS
    count("kill.sigkills", writers.kills)
    count("kill.writers_started", writers.started)
    count("kill.messages_checked", sum(c.records for c in checked))
    count("kill.acked_posts_found_exactly_once", sum(c.acked for c in checked))
    count("kill.unacked_posts_present", sum(c.unacked for c in checked))
    count("kill.torn_tails_repaired", torn_repaired)
    count("kill.reader_calls", sum(s["reads"] for s in summaries))
    count("kill.records_validated_by_readers", sum(s["records"] for s in summaries))
