"""Counts the reliability tests report (kills survived, cases run, payloads tried, messages checked).

Tests call :func:`count`; the conftest hook prints the totals at the end of the run and writes them as
JSON to ``$RELAY_RELIABILITY_COUNTS`` (when set) and to the pytest cache
(``.pytest_cache/v/relay/reliability-counts``), so ``docs/reliability.md`` can quote a real run.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest

COUNTS: Counter[str] = Counter()
NOTES: dict[str, str] = {}


def count(name: str, amount: int = 1) -> None:
    """Add ``amount`` to the counter ``name`` (e.g. ``"kill.sigkills"``)."""
    COUNTS[name] += amount


def note(name: str, value: str) -> None:
    """Record a fact about the run that is not a count (e.g. which full-disk mechanism was used)."""
    NOTES[name] = value


def report(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """Print the counts and save them; called from ``pytest_terminal_summary``."""
    if not COUNTS and not NOTES:
        return
    data = {"counts": dict(sorted(COUNTS.items())), "notes": dict(sorted(NOTES.items()))}
    terminalreporter.section("reliability counts")
    for name, value in data["counts"].items():
        terminalreporter.write_line(f"{name:<44} {value:>10}")
    for name, text in data["notes"].items():
        terminalreporter.write_line(f"{name:<44} {text}")
    if getattr(config, "cache", None) is not None:
        config.cache.set("relay/reliability-counts", data)
    target = os.environ.get("RELAY_RELIABILITY_COUNTS")
    if target:
        Path(target).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
