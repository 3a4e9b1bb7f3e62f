#!/usr/bin/env python3
"""Draw the benchmark's curves from its JSON: read cost versus history size, and post rate versus writers.

.venv/bin/pip install matplotlib      # only this script needs it
.venv/bin/python scripts/bench_plot.py bench-results.json docs/img
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

IMPLEMENTATIONS = (("store", "relay store"), ("floor", "flock + append floor"), ("sqlite", "SQLite WAL"))


def plot_reads(results: dict, out: Path) -> None:
    reads = results["sections"]["reads"]["seconds"]
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, row in reads.items():
        sizes = sorted(int(k) for k in row)
        ax.plot(sizes, [row[str(n)] * 1e6 for n in sizes], marker="o", label=name.replace("_", " "))
    ax.set_xscale("log")
    ax.set_xlabel("messages in the channel")
    ax.set_ylabel("time per read (µs, median)")
    ax.set_title("Read cost versus history size")
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "bench-reads.png", dpi=110)


def plot_writers(results: dict, out: Path) -> None:
    rows = [r for r in results["sections"]["writes"]["rows"] if r["size"] == 200]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, layout in zip(axes, ("one", "separate"), strict=True):
        chosen = sorted((r for r in rows if r["channels"] == layout), key=lambda r: r["writers"])
        writers = [r["writers"] for r in chosen]
        for impl, label in (
            ("store", "relay store"),
            ("floor", "flock + append floor"),
            ("sqlite", "SQLite WAL"),
        ):
            ax.plot(writers, [r["median_rate"][impl] for r in chosen], marker="o", label=label)
        ax.set_title(f"200-byte posts, {layout} channel{'s' if layout == 'separate' else ''}")
        ax.set_xlabel("writer processes")
        ax.set_xticks(writers)
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel("posts per second (median)")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "bench-writers.png", dpi=110)


def main() -> None:
    source = Path(sys.argv[1] if len(sys.argv) > 1 else "bench-results.json")
    out = Path(sys.argv[2] if len(sys.argv) > 2 else "docs/img")
    out.mkdir(parents=True, exist_ok=True)
    results = json.loads(source.read_text())
    plot_reads(results, out)
    plot_writers(results, out)
    print(f"wrote {out / 'bench-reads.png'} and {out / 'bench-writers.png'}")


if __name__ == "__main__":
    main()
