"""The auth token: compared in constant time, and never shown in a log, an answer or the program output.

The constant-time comparison is checked two ways: a spy on the standard library's
``hmac.compare_digest`` (the relay's own code is not replaced) must see every token a request
presents, and no ``==``/``!=``/``in`` anywhere in relay_web may touch a token, secret or session value.
"""

from __future__ import annotations

import ast
import hmac
import json
import re
import socket
from pathlib import Path

import pytest
from flask import Flask

from relay_web.security import SESSION_COOKIE, csrf_token, session_value
from tests.e2e.web_server import running_relay_web
from tests.reliability import count

TOKEN = "the-real-token-" + "k" * 30
WRONG = ["", "x", TOKEN[:-1], TOKEN + "x", TOKEN.upper(), "z" * len(TOKEN), TOKEN[::-1], "é" * 10]
RELAY_WEB = Path(__file__).resolve().parents[1] / "relay_web"


@pytest.fixture
def locked(make_app) -> Flask:  # type: ignore[no-untyped-def]
    return make_app(auth_token=TOKEN)  # type: ignore[no-any-return]


@pytest.fixture
def compared(monkeypatch: pytest.MonkeyPatch) -> list[tuple[bytes, bytes]]:
    """Every pair the standard library's constant-time comparison is asked about."""
    seen: list[tuple[bytes, bytes]] = []
    original = hmac.compare_digest

    def spy(a, b):  # type: ignore[no-untyped-def]
        seen.append((a if isinstance(a, bytes) else a.encode(), b if isinstance(b, bytes) else b.encode()))
        return original(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    return seen


def test_every_bearer_token_is_compared_in_constant_time(
    locked: Flask, compared: list[tuple[bytes, bytes]]
) -> None:
    client = locked.test_client()
    for given in [*WRONG[1:], TOKEN]:
        compared.clear()
        response = client.get("/api/channels", headers={"Authorization": f"Bearer {given}"})
        assert response.status_code == (200 if given == TOKEN else 401)
        assert (given.encode(), TOKEN.encode()) in compared, given
        count("token.constant_time_comparisons_seen")


def test_every_session_cookie_is_compared_in_constant_time(
    locked: Flask, compared: list[tuple[bytes, bytes]]
) -> None:
    expected = session_value(TOKEN)
    for given in ["0" * len(expected), expected[:-1] + "0", expected]:
        client = locked.test_client()
        client.set_cookie(SESSION_COOKIE, given)
        compared.clear()
        response = client.get("/api/channels")
        assert response.status_code == (200 if given == expected else 401)
        assert (given.encode(), expected.encode()) in compared
        count("token.constant_time_comparisons_seen")


def test_the_login_form_and_the_csrf_token_are_compared_in_constant_time(
    locked: Flask, compared: list[tuple[bytes, bytes]]
) -> None:
    client = locked.test_client()
    with locked.test_request_context():
        form_token = csrf_token()
    for given in [WRONG[1], TOKEN]:
        compared.clear()
        response = client.post("/login", data={"token": given, "csrf": form_token})
        assert response.status_code == (302 if given == TOKEN else 403)
        assert (form_token.encode(), form_token.encode()) in compared
        assert (given.encode(), TOKEN.encode()) in compared
        count("token.constant_time_comparisons_seen", 2)


SECRET_NAMES = re.compile(r"token|secret|session|csrf|digest|password", re.IGNORECASE)


def _names(node: ast.AST) -> set[str]:
    """Identifiers in an expression (variables, attributes, called functions), not string contents."""
    found = set()
    for part in ast.walk(node):
        if isinstance(part, ast.Name):
            found.add(part.id)
        elif isinstance(part, ast.Attribute):
            found.add(part.attr)
    return found


def test_no_code_in_relay_web_compares_a_secret_with_an_ordinary_operator() -> None:
    offenders = []
    for path in sorted(RELAY_WEB.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Compare):
                continue
            if not any(isinstance(op, (ast.Eq, ast.NotEq, ast.In, ast.NotIn)) for op in node.ops):
                continue
            operands = [node.left, *node.comparators]
            if any(isinstance(o, ast.Constant) and o.value is None for o in operands):
                continue
            if any(SECRET_NAMES.search(name) for o in operands for name in _names(o)):
                offenders.append(f"{path.name}:{node.lineno}: {ast.unparse(node)}")
    assert offenders == []


def _raw(base: str, request: str) -> bytes:
    host, port = base.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(request.encode("utf-8"))
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


@pytest.mark.e2e
def test_the_token_never_appears_in_logs_output_or_answers(tmp_path: Path) -> None:
    data_dir = tmp_path / "store"
    home = tmp_path / "home"
    answers: list[bytes] = []
    with running_relay_web(home, data_dir, CLAUDE_CODEX_AUTH_TOKEN=TOKEN) as (base, printed):
        host = base.removeprefix("http://")
        body = json.dumps({"target": "t", "sender": "s", "text": "hello"})
        for given in [*WRONG, TOKEN, f"{TOKEN} {TOKEN}"]:
            for request in (
                f"GET /api/channels HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {given}\r\n",
                f"GET /channels/t HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {given}\r\n",
                f"GET /nope HTTP/1.1\r\nHost: evil.example\r\nAuthorization: Bearer {given}\r\n",
                f"POST /api/messages HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {given}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n",
                f"POST /api/messages HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {given}\r\n"
                f"Content-Type: text/plain\r\nContent-Length: {len(body)}\r\n",
                f"POST /login HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                f"Content-Length: {len('token=' + given)}\r\n",
                f"GET /api/messages?target=t&token={given} HTTP/1.1\r\nHost: {host}\r\n",
            ):
                payload = body if "application/json" in request or "text/plain" in request else ""
                if request.startswith("POST /login"):
                    payload = "token=" + given
                answers.append(_raw(base, request + "Connection: close\r\n\r\n" + payload))
                count("token.requests_checked")
        assert any(answer.startswith(b"HTTP/1.1 201") for answer in answers)  # the real token works
    logs = [path.read_bytes() for path in (data_dir / "log").rglob("*") if path.is_file()]
    stderr = b"".join(path.read_bytes() for path in home.glob("relay-web-*.stderr"))
    assert logs and b"relay-web" in b"".join(logs)  # the logs exist and were written
    for where, text in [("stdout", printed.encode()), ("stderr", stderr), *(("log", log) for log in logs)]:
        assert TOKEN.encode() not in text, where
    for answer in answers:
        head, _, content = answer.partition(b"\r\n\r\n")
        assert TOKEN.encode() not in content and TOKEN[:-1].encode() not in content, answer[:300]
        headers = [line for line in head.split(b"\r\n") if not line.lower().startswith(b"set-cookie")]
        assert TOKEN.encode() not in b"\r\n".join(headers)
    assert (data_dir / "channels" / "t.jsonl").read_text().count('"hello"') == 1  # the exact token's post
