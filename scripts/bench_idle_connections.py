#!/usr/bin/env python3
"""Measure how long a real relay-web takes to answer /healthz while N idle connections are open.

Starts relay-web, then for each N opens N connections that send nothing (half of them a started,
never finished request), times 20 requests to /healthz on fresh connections, and closes them again.
Times are reported with their ratio to N = 0 in the same run. A request that gets no answer within
--timeout seconds counts as "no answer" (what 101 idle connections did to waitress's defaults).

    .venv/bin/python scripts/bench_idle_connections.py                 # N = 0, 100, 1000
    .venv/bin/python scripts/bench_idle_connections.py --counts 0 100 1000 3000
"""

from __future__ import annotations

import argparse
import resource
import socket
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.e2e.web_server import running_relay_web  # noqa: E402


def healthz_s(host: str, port: int, timeout: float) -> float | None:
    """Seconds from connecting to the whole answer, or None when none came within ``timeout``."""
    start = time.perf_counter()
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(
                f"GET /healthz HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode()
            )
            answer = b""
            while chunk := sock.recv(4096):
                answer += chunk
    except OSError:
        return None
    return time.perf_counter() - start if answer.endswith(b"ok") else None


def measure(host: str, port: int, idle: int, requests: int, timeout: float) -> list[float | None]:
    with ExitStack() as stack:
        for i in range(idle):
            sock = stack.enter_context(socket.create_connection((host, port), timeout=timeout))
            if i % 2:
                sock.sendall(f"GET /healthz HTTP/1.1\r\nHost: {host}:{port}\r\n".encode())
        time.sleep(0.5)  # let the server accept them all
        return [healthz_s(host, port, timeout) for _ in range(requests)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[0, 100, 1000])
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--timeout", type=float, default=5.0)
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    with (
        tempfile.TemporaryDirectory() as folder,
        running_relay_web(Path(folder), Path(folder) / "data") as (
            base,
            _,
        ),
    ):
        host, port = base.removeprefix("http://").rsplit(":", 1)
        baseline: float | None = None
        print(f"{'idle':>6}  {'median ms':>9}  {'max ms':>7}  {'answered':>8}  ratio to 0 idle")
        for idle in args.counts:
            times = measure(host, int(port), idle, args.requests, args.timeout)
            answered = [t for t in times if t is not None]
            median = statistics.median(answered) if answered else None
            if idle == 0 and median is not None:
                baseline = median
            ratio = f"{median / baseline:.2f}" if median is not None and baseline else "-"
            shown = (
                f"{median * 1000:9.2f}  {max(answered) * 1000:7.2f}" if median is not None else "no answer"
            )
            print(f"{idle:>6}  {shown}  {len(answered):>3}/{len(times):<4}  {ratio}")


if __name__ == "__main__":
    main()
