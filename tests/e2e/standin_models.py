"""Small local stand-ins for the model APIs the real clients call, so Codex and Claude Code run offline
and scripted.

``ResponsesStandin`` speaks the OpenAI Responses API as Codex uses it (``POST <base_url>/responses``
with ``"stream": true``, answered as server-sent events: ``response.created``, one
``response.output_item.done`` per output item, ``response.completed``). Each request is recorded
(its JSON body), and answered by ``script(request_number, body)``, which returns the output items: an
assistant message or a function call (a tool call, e.g. one of the relay's MCP tools).

``MessagesStandin`` speaks the Anthropic Messages API as Claude Code uses it (``POST
<ANTHROPIC_BASE_URL>/v1/messages`` with ``"stream": true``, answered as ``message_start``, a
``content_block_start``/``_delta``/``_stop`` run per block, ``message_delta`` and ``message_stop``;
``/v1/messages/count_tokens`` too). Its script returns content blocks: text and ``tool_use``.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
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


class _Standin:
    """A model API on 127.0.0.1 (a free port) for a ``with`` block: records and answers each request.

    A subclass says which paths are model requests (``is_model_request``), how to stream a reply
    (``events``) and may answer other paths (``answer_other``); the script's exceptions become a 500
    for the client and land in ``errors`` for the test.
    """

    def __init__(self, script: Script) -> None:
        self.script = script
        self.requests: list[dict[str, Any]] = []
        self.errors: list[Exception] = []
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def is_model_request(self, path: str) -> bool:
        raise NotImplementedError

    def events(self, number: int, body: dict[str, Any], items: list[Item]) -> Iterator[dict[str, Any]]:
        raise NotImplementedError

    def answer_other(self, path: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """The JSON answer to a request that is not a model request, or None for a 404."""
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
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
                if standin.is_model_request(self.path):
                    standin._answer_model(self, body)
                    return
                answer = standin.answer_other(self.path, body)
                self.send_response(404 if answer is None else 200)
                data = json.dumps(answer).encode() if answer is not None else b""
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler

    def _answer_model(self, handler: BaseHTTPRequestHandler, body: dict[str, Any]) -> None:
        with self.lock:
            self.requests.append(body)
            number = len(self.requests)
        try:
            items = self.script(number, body)
        except Exception as exc:  # noqa: BLE001 - the client sees a 500, the test sees the cause
            self.errors.append(exc)
            handler.send_response(500)
            handler.end_headers()
            return
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.end_headers()
        for event in self.events(number, body, items):
            handler.wfile.write(_sse(event))
        handler.wfile.flush()

    def __enter__(self) -> _Standin:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class ResponsesStandin(_Standin):
    """The OpenAI Responses API, as Codex streams it."""

    def is_model_request(self, path: str) -> bool:
        return path.endswith("/responses")

    def events(self, number: int, body: dict[str, Any], items: list[Item]) -> Iterator[dict[str, Any]]:
        rid = f"resp_{number}"
        yield {"type": "response.created", "response": {"id": rid}}
        for index, item in enumerate(items):
            yield {"type": "response.output_item.done", "output_index": index, "item": item}
        usage = {"input_tokens": 10, "output_tokens": 5, "total_tokens": 15}
        yield {"type": "response.completed", "response": {"id": rid, "usage": usage}}

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> ResponsesStandin:
        super().__enter__()
        return self


Block = dict[str, Any]


def text(words: str) -> Block:
    """A text content block: with no tool_use beside it, the turn ends (unless a hook continues it)."""
    return {"type": "text", "text": words}


def tool_use(name: str, arguments: dict[str, Any], use_id: str) -> Block:
    """A tool_use content block: Claude Code runs the tool and sends a tool_result in the next request.

    Claude Code names an MCP server's tools ``mcp__<server>__<tool>`` (``mcp__relay__post_message``).
    """
    return {"type": "tool_use", "id": f"toolu_{use_id}", "name": name, "input": arguments}


def tool_result(body: dict[str, Any]) -> Any:
    """The JSON result of the tool call a request answers: the last tool_result's text, parsed."""
    (result,) = [b for b in body["messages"][-1]["content"] if b.get("type") == "tool_result"][-1:]
    content = result["content"]
    if isinstance(content, list):
        content = "".join(part.get("text", "") for part in content)
    return json.loads(content)


def messages_text(body: dict[str, Any]) -> str:
    """Everything a Messages request hands the model (the conversation), as one string."""
    return json.dumps(body.get("messages", []), ensure_ascii=False)


def _block_events(index: int, block: Block) -> Iterator[dict[str, Any]]:
    if block["type"] == "tool_use":
        yield {"type": "content_block_start", "index": index, "content_block": {**block, "input": {}}}
        delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
    else:
        yield {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}
        delta = {"type": "text_delta", "text": block["text"]}
    yield {"type": "content_block_delta", "index": index, "delta": delta}
    yield {"type": "content_block_stop", "index": index}


class MessagesStandin(_Standin):
    """The Anthropic Messages API, as Claude Code streams it (point ``ANTHROPIC_BASE_URL`` here)."""

    def is_model_request(self, path: str) -> bool:
        return path.split("?")[0].endswith("/v1/messages")

    def answer_other(self, path: str, body: dict[str, Any]) -> dict[str, Any] | None:
        if path.split("?")[0].endswith("/v1/messages/count_tokens"):
            return {"input_tokens": max(1, len(json.dumps(body)) // 4)}
        return None

    def events(self, number: int, body: dict[str, Any], items: list[Item]) -> Iterator[dict[str, Any]]:
        usage = {"input_tokens": 10, "output_tokens": 1}
        start = {"id": f"msg_{number}", "type": "message", "role": "assistant", "model": body.get("model")}
        start |= {"content": [], "stop_reason": None, "stop_sequence": None, "usage": usage}
        yield {"type": "message_start", "message": start}
        for index, block in enumerate(items):
            yield from _block_events(index, block)
        stop = "tool_use" if any(block["type"] == "tool_use" for block in items) else "end_turn"
        delta = {"stop_reason": stop, "stop_sequence": None}
        yield {"type": "message_delta", "delta": delta, "usage": {"output_tokens": 5}}
        yield {"type": "message_stop"}

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def __enter__(self) -> MessagesStandin:
        super().__enter__()
        return self


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
