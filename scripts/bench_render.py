#!/usr/bin/env python3
"""How long the viewer takes to render one message of the largest size, for hostile and generated shapes.

Three measurements, each against a baseline of the same run, all in CPU time of the rendering thread:
- calibration: each shape rendered in full (no budget) at a moderate size, against the estimate that
  relay_web/render_budget.py makes of it; a ratio over 1 means the estimate's prices are too low;
- hostile shapes at max_message_bytes through the viewer's renderer (budget on), against showing the
  same text escaped (the least any viewer could do), and whether it was rendered or shown as text;
- a hypothesis search for the slowest shape (generated from Markdown's special characters, repeated up
  to max_message_bytes), reporting the worst one found and its time.

    .venv/bin/python scripts/bench_render.py              # about two minutes on 2 shared cores
    .venv/bin/python scripts/bench_render.py --examples 20 --quick
    scripts/bench.py --only render                        # the same, inside the benchmark suite
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hypothesis import HealthCheck, Phase, given, settings, target

from relay_web.render import Renderer
from relay_web.render_budget import PLAIN_TEXT_NOTE as NOTE
from relay_web.render_budget import RENDER_BUDGET_US, measure, plain_text
from tests.render_shapes import HOSTILE_SHAPES, filled, generated_shapes, hostile_message


def render_seconds(text: str, runs: int, budget_us: float = RENDER_BUDGET_US) -> tuple[float, float, str]:
    """The best of ``runs`` renders of ``text`` by a renderer that caches nothing: CPU s, wall s, HTML.

    Compared in CPU seconds of the rendering thread: the machine is shared (2 cores, other engineers'
    tests), and wall time also counts how long this process waited for a core.
    """
    renderer = Renderer(budget_bytes=0, render_budget_us=budget_us)
    renderer.render("warm up")  # its Markdown instance is built once per thread
    best, wall, html = math.inf, math.inf, ""
    for _ in range(runs):
        cpu_started, wall_started = time.thread_time(), time.perf_counter()
        html = renderer.render(text)
        cpu = time.thread_time() - cpu_started
        if cpu < best:
            best, wall = cpu, time.perf_counter() - wall_started
    return best, wall, html


def calibrate(size: int, runs: int) -> dict[str, dict[str, float]]:
    """Each shape rendered in full at ``size`` bytes: measured ms, estimated ms and their ratio."""
    rows = {}
    for name in HOSTILE_SHAPES:
        text = hostile_message(name, size)
        seconds, _, _ = render_seconds(text, runs, budget_us=math.inf)
        estimate_ms = measure(text).cost_us() / 1000
        rows[name] = {"ms": seconds * 1000, "estimate_ms": estimate_ms, "ratio": seconds * 1000 / estimate_ms}
        rows[name].update({f"{k}_ms": v / 1000 for k, v in measure(text).costs_us().items() if v})
    return rows


def plain_seconds(text: str, runs: int) -> float:
    """The baseline: CPU seconds to show ``text`` as escaped text, the least any viewer could do."""
    best = math.inf
    for _ in range(runs):
        started = time.thread_time()
        plain_text(text, "a baseline")
        best = min(best, time.thread_time() - started)
    return best


def hostile(runs: int) -> dict[str, dict[str, Any]]:
    """Each hostile shape at the largest size, through the viewer's renderer, against the baseline."""
    rows = {}
    for name in HOSTILE_SHAPES:
        text = hostile_message(name)
        seconds, wall, html = render_seconds(text, runs)
        plain = plain_seconds(text, runs)
        rows[name] = {"ms": seconds * 1000, "wall_ms": wall * 1000, "plain_text": NOTE in html}
        rows[name].update(baseline_ms=plain * 1000, ratio=seconds / plain, html_bytes=len(html.encode()))
    return rows


def search(examples: int) -> dict[str, Any]:
    """Hypothesis looks for the slowest message of the largest size; the worst one found and its time."""
    worst: dict[str, Any] = {"ms": 0.0}

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        phases=[Phase.generate, Phase.target],
        suppress_health_check=list(HealthCheck),
    )
    @given(generated_shapes())
    def slowest(shape: tuple[str, str]) -> None:
        head, unit = shape
        text = filled(unit, head=head)
        seconds, wall, html = render_seconds(text, 1)
        target(seconds)
        if seconds * 1000 > worst["ms"]:
            worst.update(ms=seconds * 1000, wall_ms=wall * 1000, head=head, unit=unit)
            worst["plain_text"] = NOTE in html

    slowest()
    return {"examples": examples, "worst": worst}


def run(quick: bool, runs: int, examples: int | None = None) -> dict[str, Any]:
    """Every measurement of this module, as raw numbers."""
    calibration = calibrate(16_384 if quick else 65_536, runs)
    shapes = hostile(runs)
    found = search(examples or (20 if quick else 200))
    return {
        "calibration": calibration,
        "worst_estimate_ratio": max(row["ratio"] for row in calibration.values()),
        "hostile": shapes,
        "worst_hostile_ms": max(row["ms"] for row in shapes.values()),
        "search": found,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller calibration size, 20 examples")
    parser.add_argument("--runs", type=int, default=3, help="renders per measurement (the best counts)")
    parser.add_argument("--examples", type=int, default=None, help="generated shapes to try (default 200)")
    args = parser.parse_args()
    print(json.dumps(run(args.quick, args.runs, args.examples), indent=2, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
