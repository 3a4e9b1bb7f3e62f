#!/usr/bin/env python3
"""Measure relay-web's server time on channels of 1,000 and 100,000 messages, in one run.

Builds the channels in a temporary data dir with the relay's own store, then times requests through
the Flask app in-process (server time only, no network): the channel page (cold, with every message
rendered for the first time, and warm), the API's since_id reads, the page's idle live-update poll and
"load older". Finally it starts a real relay-web (waitress) and measures API latency while 20 simulated
open pages poll once a second each.

    .venv/bin/python scripts/bench_web.py            # about a minute on 2 cores
    .venv/bin/python scripts/bench_web.py --sizes 1000 --no-load
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from relay_web import create_app  # noqa: E402
from shared.config import resolve_config  # noqa: E402
from shared.storage.files.store import FileStore  # noqa: E402
from tests.e2e.web_server import running_relay_web  # noqa: E402


def sample_text(i: int) -> str:
    """Messages like agents write: prose, a list, sometimes a diff or code block (all unique)."""
    text = f"Message {i}: reviewing **change {i}**.\n\n- point one about `func_{i}()`\n- point two\n"
    if i % 5 == 0:
        text += f"\n```diff\n--- a/mod_{i}.py\n+++ b/mod_{i}.py\n@@ -1,3 +1,3 @@\n"
        text += f"-x = {i}\n+x = {i + 1}\n y = 2\n```\n"
    if i % 7 == 0:
        text += f"\n```python\ndef f_{i}(a, b):\n    return a + b * {i}\n```\n"
    return text


def build(data_dir: Path, target: str, count: int) -> None:
    store = FileStore(data_dir)
    for i in range(1, count + 1):
        store.append(target, "claude" if i % 2 else "codex", sample_text(i), source="mcp")


def timed(client, url: str, repeat: int) -> list[float]:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    return times


def summary(times: list[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return f"median {statistics.median(ordered):7.2f} ms   p95 {p95:7.2f} ms   (n={len(ordered)})"


def bench_in_process(data_dir: Path, sizes: list[int], repeat: int) -> dict[str, dict[str, str]]:
    config = resolve_config({"data_dir": str(data_dir)}, env={})
    results: dict[str, dict[str, str]] = {}
    for count in sizes:
        target = f"c{count}"
        rows: dict[str, list[float]] = {}
        # Cold: a fresh app has an empty render cache, so all 50 messages are rendered from Markdown.
        rows["channel page, cold (renders 50 messages)"] = [
            timed(create_app(config).test_client(), f"/channels/{target}", 1)[0]
            for _ in range(max(3, repeat // 10))
        ]
        client = create_app(config).test_client()
        rows["channel page, warm"] = timed(client, f"/channels/{target}", repeat)
        rows["GET /api/messages (last 50)"] = timed(client, f"/api/messages?target={target}", repeat)
        rows["GET /api/messages?since_id=<latest-50>"] = timed(
            client, f"/api/messages?target={target}&since_id={count - 50}", repeat
        )
        rows["GET /api/messages?since_id=<middle>&limit=50"] = timed(
            client, f"/api/messages?target={target}&since_id={count // 2}&limit=50", repeat
        )
        rows["GET /api/messages?since_id=<latest> (idle poll)"] = timed(
            client, f"/api/messages?target={target}&since_id={count}", repeat
        )
        rows["page live-update poll, idle"] = timed(
            client, f"/ui/channels/{target}/updates?since_id={count}", repeat
        )
        rows["page 'load older' from the middle"] = timed(
            client, f"/ui/channels/{target}/older?before_id={count // 2}", max(3, repeat // 10)
        )
        results[f"{count} messages"] = {name: summary(times) for name, times in rows.items()}
    return results


def bench_under_load(tmp: Path, target: str, pages: int, seconds: float) -> str:
    """Real relay-web: `pages` pollers at 1 request/s each, while one client times API reads."""
    data_dir = tmp / "data"
    with running_relay_web(tmp / "home", data_dir) as (base, _):
        latest = FileStore(data_dir).stats(target).latest_id
        stop = threading.Event()

        def page_poller() -> None:
            url = f"{base}/ui/channels/{target}/updates?since_id={latest}"
            while not stop.is_set():
                with urllib.request.urlopen(url, timeout=30) as response:
                    response.read()
                stop.wait(1.0)

        threads = [threading.Thread(target=page_poller, daemon=True) for _ in range(pages)]
        for thread in threads:
            thread.start()
        times = []
        end = time.monotonic() + seconds
        url = f"{base}/api/messages?target={target}&since_id={latest - 50}"
        while time.monotonic() < end:
            start = time.perf_counter()
            with urllib.request.urlopen(url, timeout=30) as response:
                response.read()
            times.append((time.perf_counter() - start) * 1000)
            time.sleep(0.05)
        stop.set()
        for thread in threads:
            thread.join(timeout=5)
    return summary(times)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 100_000])
    parser.add_argument("--repeat", type=int, default=100)
    parser.add_argument("--no-load", action="store_true", help="skip the 20-open-pages test")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="relay-bench-") as tmp_name:
        tmp = Path(tmp_name)
        for count in args.sizes:
            start = time.perf_counter()
            build(tmp / "data", f"c{count}", count)
            size = (tmp / "data" / "channels" / f"c{count}.jsonl").stat().st_size
            took = time.perf_counter() - start
            print(f"built c{count}: {count} messages, {size / 1e6:.1f} MB in {took:.1f} s")
        results = bench_in_process(tmp / "data", args.sizes, args.repeat)
        if not args.no_load:
            biggest = f"c{max(args.sizes)}"
            load = bench_under_load(tmp, biggest, pages=20, seconds=8)
            results["real relay-web, 20 pages polling"] = {
                f"GET /api/messages?since_id on {biggest} over HTTP": load
            }
    for section, rows in results.items():
        print(f"\n{section}")
        for name, value in rows.items():
            print(f"  {name:<50} {value}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
