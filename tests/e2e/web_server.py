"""Start a real ``relay-web`` process on a free loopback port, and a second site, for end-to-end tests."""

from __future__ import annotations

import selectors
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

from tests.e2e.conftest import child_env

START_TIMEOUT_S = 60


def relay_web_command() -> list[str]:
    """The installed console script next to this Python, else ``python -m relay_web``."""
    script = Path(sys.executable).with_name("relay-web")
    return [str(script)] if script.exists() else [sys.executable, "-m", "relay_web"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_relay_web(home: Path, data_dir: Path, *args: str, **env: str) -> Iterator[tuple[str, str]]:
    """Yield (base URL without trailing slash, everything it printed before serving); stop it after."""
    port = free_port()
    log_path = home / f"relay-web-{port}.stderr"
    home.mkdir(parents=True, exist_ok=True)
    command = [*relay_web_command(), "--data-dir", str(data_dir), "--port", str(port), *args]
    with (
        log_path.open("wb") as stderr,
        subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=stderr, env=child_env(home, **env), cwd=home
        ) as proc,
    ):
        assert proc.stdout is not None
        printed = b""
        deadline = time.monotonic() + START_TIMEOUT_S
        with selectors.DefaultSelector() as selector:
            selector.register(proc.stdout, selectors.EVENT_READ)
            while b"serving on" not in printed:
                if time.monotonic() > deadline or proc.poll() is not None:
                    proc.kill()
                    raise RuntimeError(f"relay-web did not start: {printed!r} {log_path.read_text()}")
                if selector.select(timeout=0.2):
                    chunk = proc.stdout.read1(4096)  # type: ignore[attr-defined]
                    printed += chunk
        try:
            yield f"http://127.0.0.1:{port}", printed.decode()
        finally:
            proc.terminate()
            proc.wait(timeout=20)
            proc.stdout.close()


class _Pages(BaseHTTPRequestHandler):
    """Serves the pages given to :func:`serving_pages` and nothing else (like a hostile site would)."""

    pages: ClassVar[dict[str, str]] = {}

    def do_GET(self) -> None:
        body = self.pages.get(self.path.split("?")[0])
        if body is None:
            self.send_error(404)
            return
        data = body.encode("utf-8")
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:  # keep the test output clean
        pass


@contextmanager
def serving_pages(pages: dict[str, str]) -> Iterator[str]:
    """Serve ``pages`` (path -> HTML) from another origin: yields ``http://localhost:<port>``."""
    handler = type("Pages", (_Pages,), {"pages": dict(pages)})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
