#!/usr/bin/env python3
"""The relay's benchmark suite: every figure is a ratio against a baseline measured in the same run.

Baselines (written here, so they are measured on the same machine at the same moment):
- floor:  a bare loop that takes an ``fcntl.flock`` on a lock file, appends one JSON line and releases;
- sqlite: SQLite in WAL mode (``synchronous=NORMAL``), one insert per transaction, same payloads;
- bare SDK: a minimal ``MCPServer`` with one no-op tool, for protocol overhead, start-up and memory.

Usage:
    scripts/bench.py                 # the full run (several minutes; builds a 1M-message channel)
    scripts/bench.py --quick         # under a minute, smaller sizes (CI runs this, reporting only)
    scripts/bench.py --json out.json # where the raw numbers go (default: bench-results.json)
    scripts/bench.py --only reads    # one section (repeatable): writes, latency, reads, stdio, wait,
                                     # push, web, render, postgres, search
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # tests.e2e.web_server for the viewer section

import bench_sections as sections


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, under a minute (for CI)")
    parser.add_argument("--json", type=Path, default=Path("bench-results.json"), help="raw results file")
    parser.add_argument(
        "--runs", type=int, default=None, help="repetitions per measurement (default 5, quick 3)"
    )
    parser.add_argument(
        "--only", action="append", choices=sections.ALL, help="run only these sections (repeatable)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    runs = args.runs or (3 if args.quick else 5)
    chosen = args.only or list(sections.ALL)
    started = time.time()
    results: dict[str, Any] = {
        "machine": sections.machine_description(),
        "python": platform.python_version(),
        "quick": args.quick,
        "runs": runs,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "sections": {},
    }
    with tempfile.TemporaryDirectory(prefix="relay-bench-") as tmp:
        for name in chosen:
            run: Callable[..., dict[str, Any]] = sections.ALL[name]
            print(f"== {name} ...", file=sys.stderr, flush=True)
            section_start = time.perf_counter()
            results["sections"][name] = run(Path(tmp) / name, quick=args.quick, runs=runs)
            print(f"   {name} took {time.perf_counter() - section_start:.1f} s", file=sys.stderr, flush=True)
    results["elapsed_s"] = round(time.time() - started, 1)
    args.json.write_text(json.dumps(results, indent=2))
    print(sections.render_table(results))
    print(f"\nraw numbers: {args.json}  ({results['elapsed_s']} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
