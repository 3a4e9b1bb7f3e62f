"""The soak run (scripts/soak.py) for a minute: agents and viewers at once, then nothing may be wrong.

``RELAY_SOAK_SECONDS`` changes the length (default 60, as on CI); the script's summary is kept in the
reliability counts and printed on failure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.reliability import count, note

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "soak.py"


def test_a_soak_run_loses_nothing_duplicates_nothing_and_keeps_memory_flat(tmp_path: Path) -> None:
    seconds = float(os.environ.get("RELAY_SOAK_SECONDS", "60"))
    summary_path = tmp_path / "soak.json"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--seconds", str(seconds), "--agents", "4", "--viewers", "3",
         "--json", str(summary_path)],
        capture_output=True,
        text=True,
        timeout=seconds + 600,  # a hang guard: start-up, the final checks and a slow machine
        cwd=tmp_path,
    )  # fmt: skip
    assert summary_path.exists(), done.stderr[-3000:]
    summary = json.loads(summary_path.read_text())
    counts = summary["counts"]
    for name in (
        "calls.post_message",
        "calls.fetch_messages",
        "calls.wait_for_messages",
        "waits_answered",
        "viewer_requests",
        "messages_checked",
        "messages_read",
        "seen_checked",
    ):
        count(f"soak.{name}", counts.get(name, 0))  # fmt: skip
    for name, verdict in summary["memory"].items():
        early, late = verdict["rss_mb_second_quarter"], verdict["rss_mb_last_quarter"]
        note(f"soak.memory.{name}", f"{early} -> {late} MB")
    note("soak.seed", str(summary["seed"]))
    assert done.returncode == 0 and summary["ok"], json.dumps(summary["errors"], indent=1)
    assert counts["messages_checked"] == counts["calls.post_message"] > 100
    assert counts["waits_answered"] > 0 and counts["viewer_requests"] > 0
    assert len(summary["memory"]) == 5  # four relay-stdio and one relay-web, all judged
