"""The soak run (scripts/soak.py) for 60 seconds: real agents, a real viewer, every message checked."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.reliability import count

SOAK = Path(__file__).resolve().parents[2] / "scripts" / "soak.py"


@pytest.mark.slow
@pytest.mark.e2e
def test_a_minute_of_agents_and_viewers_loses_nothing_and_memory_stays_flat(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    done = subprocess.run(
        [sys.executable, str(SOAK), "--seconds", "60", "--agents", "3", "--viewers", "5", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(out.read_text())
    assert result["problems"] == [] and result["errors"] == 0
    assert result["messages"] == result["acknowledged_posts"] > 100
    assert result["waits"] > 0 and result["viewer_polls"] > 0
    assert len(result["memory"]) >= 4  # relay-web and the three relay-stdio processes were sampled
    count("soak.seconds", 60)
    count("soak.messages", result["messages"])
    count("soak.message_checks", result["messages"] * result["readers"])
    count("soak.waits", result["waits"])
    count("soak.viewer_polls", result["viewer_polls"])
