"""scripts/bench_sections.py's report marks the rows that miss their target and counts them last."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import bench_sections  # noqa: E402

RECORDED = ROOT / "docs" / "perf" / "bench-2026-11-26.json"


@pytest.fixture
def results() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(RECORDED.read_text())
    return data


def rows_marked(table: str) -> list[str]:
    return [line for line in table.splitlines() if line.endswith("  MISS")]


@pytest.mark.parametrize(
    ("target", "value", "ratio", "missed"),
    [
        (">= 0.5", "1", 0.4, True),
        (">= 0.5", "1", 0.5, False),
        ("<= 1.3", "1", 1.31, True),
        ("< 20 ms", "19.9", None, False),
        ("< 20 ms", "20.0", None, True),
        ("== 0 (no stalls)", "3", None, True),
        ("<= 500 ms (as text)", "176.7", 553.1, False),  # a bound on the value in ms, not on the ratio
        ("<= 500 ms (rendered)", "758.2", 2.5, True),
        ("< 100 MB", "138", None, True),
        ("", "99", 99.0, False),
        ("no target in words", "1", None, False),
    ],
)
def test_a_row_misses_when_its_ratio_or_else_its_value_breaks_the_target(
    target: str, value: str, ratio: float | None, missed: bool
) -> None:
    assert bench_sections.misses_target(target, value, ratio) is missed


def test_the_recorded_run_marks_each_miss_and_counts_them_on_the_last_line(results: dict[str, Any]) -> None:
    table = bench_sections.render_table(results)
    marked = rows_marked(table)
    assert any(line.startswith("post latency, 4 writers: p99 ms") for line in marked)  # 12.11 > 5
    assert not any(line.startswith("relay-stdio start-up") for line in marked)  # 1.05 <= 1.3
    last = table.splitlines()[-1]
    assert last.startswith(f"{len(marked)} of ") and "rows with a target missed it" in last
    assert "post latency, 4 writers: p99 ms (ratio p99/p50)" in last


def test_a_run_that_meets_every_target_says_none_missed(results: dict[str, Any]) -> None:
    good = copy.deepcopy(results)
    lat = good["sections"]["latency"]
    lat["p99_over_p50"], lat["store"]["over_20ms"] = 2.0, 0
    for row in good["sections"]["writes"]["rows"]:
        row["vs_floor"], row["vs_sqlite"] = max(row["vs_floor"], 0.5), max(row["vs_sqlite"], 1.0)
    table = bench_sections.render_table(good)
    assert rows_marked(table) == []
    assert table.splitlines()[-1].startswith("0 of ")
