"""Driving ``tests/e2e/node/channel_client.mjs`` (the official TypeScript SDK client, recording every
notification) against a real ``relay-stdio`` process, for the channel tests and the push benchmark."""

from __future__ import annotations

import json
import queue
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from tests.e2e.conftest import child_env, relay_stdio_command
from tests.e2e.node_clients import NODE_DIR, TS_SDK, node_command

CHANNEL_CLIENT = NODE_DIR / "channel_client.mjs"
CHANNEL_METHOD = "notifications/claude/channel"


class ChannelClient:
    """One channel_client.mjs process with its relay-stdio; events are read on a thread into a queue.

    Args:
        data_dir: the store the server uses.
        home: HOME of both processes.
        client_name: what the client says it is (``claude-code`` gets pushes by default).
        server_args: more relay-stdio arguments (``--channel``, ``--push``, ``--sender``).
        server_env: more environment for relay-stdio (e.g. ``CLAUDE_CODEX_LOOP_GUARD``).
    """

    def __init__(
        self,
        data_dir: Path,
        home: Path,
        client_name: str = "claude-code",
        server_args: tuple[str, ...] = (),
        server_env: dict[str, str] | None = None,
    ) -> None:
        command = relay_stdio_command()
        home.mkdir(parents=True, exist_ok=True)
        spec = {
            "command": command[0],
            "args": [*command[1:], "--data-dir", str(data_dir), *server_args],
            "env": {"HOME": str(home), **(server_env or {})},
            "cwd": str(home),
            "clientName": client_name,
            "clientVersion": "2.1.332",
        }
        self.process = subprocess.Popen(
            [*node_command(CHANNEL_CLIENT, TS_SDK), json.dumps(spec)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=child_env(home),
            cwd=home,
            text=True,
        )
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.notifications: list[dict[str, Any]] = []
        self._seq = 0
        threading.Thread(target=self._read, daemon=True).start()
        self.ready = self.next_event("ready")

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.events.put(json.loads(line))
        self.events.put({"event": "exit"})

    def next_event(self, kind: str, timeout_s: float = 60.0) -> dict[str, Any]:
        """The next event of ``kind``; notifications met on the way are kept in ``notifications``."""
        deadline = time.monotonic() + timeout_s
        while True:
            event = self.events.get(timeout=max(0.01, deadline - time.monotonic()))
            if event["event"] == "notification":
                self.notifications.append(event)
            if event["event"] == kind:
                return event
            assert event["event"] != "exit", f"channel_client.mjs exited while waiting for {kind}"

    def send(self, name: str, **arguments: Any) -> int:
        """Start a tool call without waiting for its answer; returns its sequence number."""
        assert self.process.stdin is not None
        self._seq += 1
        self.process.stdin.write(json.dumps({"seq": self._seq, "name": name, "arguments": arguments}) + "\n")
        self.process.stdin.flush()
        return self._seq

    def call(self, name: str, **arguments: Any) -> dict[str, Any]:
        """Call a tool and return its result event."""
        seq = self.send(name, **arguments)
        result = self.next_event("result")
        assert result["seq"] == seq
        return result

    def next_push(self, timeout_s: float = 30.0) -> dict[str, Any]:
        """The next ``notifications/claude/channel`` notification (progress and others are skipped)."""
        while True:
            event = self.next_event("notification", timeout_s)
            if event["method"] == CHANNEL_METHOD:
                return event

    def pushes_within(self, seconds: float) -> list[dict[str, Any]]:
        """Every channel notification that arrives in the next ``seconds`` (to show none does)."""
        found = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                event = self.events.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if event["event"] == "notification" and event["method"] == CHANNEL_METHOD:
                found.append(event)
        return found

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            assert self.process.stdout is not None
            self.process.stdout.close()
