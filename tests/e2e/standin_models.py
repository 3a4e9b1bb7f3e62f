"""Small local stand-ins for the model APIs the real clients call, so Codex runs offline and scripted.

``ResponsesStandin`` speaks the OpenAI Responses API as Codex uses it (``POST <base_url>/responses``
with ``"stream": true``, answered as server-sent events: ``response.created``, one
``response.output_item.done`` per output item, ``response.completed``). Each request is recorded
(its JSON body), and answered by ``script(request_number, body)``, which returns the output items: an
assistant message or a function call (a tool call, e.g. one of the relay's MCP tools).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Item = dict[str, Any]
Script = Callable[[int, dict[str, Any]], list[Item]]


def message(text: str) -> Item:
    """An assistant message output item: the turn ends with it unless a hook continues it."""
    return {
        "type": "message",
        "role": "assistant",
        "id": "msg_standin",
        "content": [{"type": "output_text", "text": text, "annotations": []}],
    }


def function_call(name: str, arguments: dict[str, Any], call_id: str, namespace: str | None = None) -> Item:
    """A tool call output item: the client runs the tool and sends its output in the next request.

    Codex offers an MCP server's tools in a namespace (``mcp__relay``: ``fetch_messages``, ...); a call
    to one names both.
    """
    item = {
        "type": "function_call",
        "id": f"fc_{call_id}",
        "call_id": call_id,
        "name": name,
        "arguments": json.dumps(arguments),
    }
    return {**item, "namespace": namespace} if namespace else item


def tool_output(body: dict[str, Any]) -> Any:
    """The JSON result of the tool call a request answers (Codex prefixes it with ``Output:``)."""
    text = str(body["input"][-1].get("output", ""))
    return json.loads(text.split("Output:\n", 1)[-1])


def offered_tools(body: dict[str, Any]) -> set[str]:
    """Every tool a request offers the model, namespaced ones as ``namespace/name``."""
    names = set()
    for tool in body.get("tools", []):
        if not isinstance(tool, dict):
            continue
        names.add(str(tool.get("name")))
        names.update(f"{tool.get('name')}/{sub.get('name')}" for sub in tool.get("tools", []))
    return names


def input_text(body: dict[str, Any]) -> str:
    """Everything the request hands the model, as one string (to check what a request holds)."""
    return json.dumps(body.get("input", []), ensure_ascii=False)


def _sse(event: dict[str, Any]) -> bytes:
    return f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()


class ResponsesStandin:
    """A Responses API server on 127.0.0.1 (a free port) for the duration of a ``with`` block."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return

            def do_GET(self) -> None:
                self.send_response(404)
                self.end_headers()

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if not self.path.endswith("/responses"):
                    self.send_response(404)
                    self.end_headers()
                    return
                with standin.lock:
                    standin.requests.append(body)
                    number = len(standin.requests)
                try:
                    items = standin.script(number, body)
                except Exception as exc:  # noqa: BLE001 - the client sees a 500, the test sees the cause
                    standin.errors.append(exc)
                    self.send_response(500)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                rid = f"resp_{number}"
                self.wfile.write(_sse({"type": "response.created", "response": {"id": rid}}))
                for index, item in enumerate(items):
                    event = {"type": "response.output_item.done", "output_index": index, "item": item}
                    self.wfile.write(_sse(event))
                usage = {"input_tokens": 10, "output_tokens": 5, "total_tokens": 15}
                done = {"type": "response.completed", "response": {"id": rid, "usage": usage}}
                self.wfile.write(_sse(done))
                self.wfile.flush()

        self.errors: list[Exception] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> ResponsesStandin:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def codex_provider_toml(base_url: str) -> str:
    """config.toml lines that point Codex at a stand-in: no login, no network."""
    return (
        'model = "standin-model"\nmodel_provider = "standin"\n\n'
        "[model_providers.standin]\n"
        'name = "standin"\n'
        f'base_url = "{base_url}"\n'
        'wire_api = "responses"\n'
        "request_max_retries = 0\nstream_max_retries = 0\n"
    )
