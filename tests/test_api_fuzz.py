"""The HTTP API fuzzed from its own ``/openapi.json`` with schemathesis, in-process against the WSGI app.

For every operation the document describes, schemathesis generates requests that fit the schema
(positive) and requests that break it (negative), sends them to the real Flask app on a real store,
and checks the answers: no 500, a status and body the document declares, schema-valid data accepted
and schema-invalid data refused. On top of its checks, every error must be JSON ``{"ok": false,
"error": "<message>"}``. Writes are made three ways: as a script (JSON, no ``Origin``), as the
viewer's own page (same ``Origin`` plus the CSRF token), and with ``auth_token`` set (Bearer header).

The schemathesis pytest plugin's lazy-fixture loader does not run on pytest 9 (it sets a removed
``Item._nodeid``), so the operations' hypothesis strategies are driven directly with ``@given``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis import Case, GenerationMode
from schemathesis.checks import load_all_checks

from relay_web import create_app
from relay_web.openapi import openapi_spec
from relay_web.security import CSRF_HEADER, csrf_token
from shared.config import resolve_config
from shared.models import DEFAULT_MAX_MESSAGE_BYTES
from tests.reliability import count

# Per operation, mode and client (fewer where the input space is smaller); RELAY_FUZZ_EXAMPLES for a
# deeper run.
EXAMPLES = int(os.environ.get("RELAY_FUZZ_EXAMPLES", "150"))
TOKEN = "fuzz-token-" + "x" * 20
SPEC = openapi_spec(DEFAULT_MAX_MESSAGE_BYTES)


def runs() -> list[tuple[str, str, GenerationMode, str]]:
    """Every operation, in each mode that has requests to make, by each client that differs for it."""
    found = []
    for path, item in SPEC["paths"].items():
        for method, described in item.items():
            has_input = "parameters" in described or "requestBody" in described
            modes = list(GenerationMode) if has_input else [GenerationMode.POSITIVE]
            # Reads carry no write headers, so a page reading is a script reading.
            clients = ["script", "page", "token"] if method == "post" else ["script", "token"]
            found += [(path, method.upper(), mode, client) for mode in modes for client in clients]
    return found


RUNS = runs()
# A text longer than the schema's maxLength is refused with 413, as the contract says; schemathesis
# expects 4xx codes for schema-violating requests, and takes 413 only when told.
CONFIG = {"checks": {"negative_data_rejection": {"expected-statuses": [400, 401, 403, 404, 405, 413, 415]}}}


def build_app(data_dir: Path, client: str) -> Flask:
    options: dict[str, Any] = {"data_dir": str(data_dir), "max_message_bytes": 4096}
    if client == "token":
        options["auth_token"] = TOKEN
    return create_app(resolve_config(options, env={}), {"TESTING": True})


def client_headers(app: Flask, client: str) -> dict[str, str]:
    """What each kind of legitimate client adds to its requests."""
    if client == "page":
        with app.test_request_context():
            token = csrf_token()
        return {"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin", CSRF_HEADER: token}
    if client == "token":
        return {"Authorization": f"Bearer {TOKEN}"}
    return {}


def stored_messages(data_dir: Path) -> dict[tuple[str, int], dict[str, Any]]:
    """Every record of every channel file, checked to be valid JSONL with ids 1..N."""
    found = {}
    for path in sorted((data_dir / "channels").glob("*.jsonl")):
        records = [json.loads(line) for line in path.read_bytes().splitlines()]
        assert [r["id"] for r in records] == list(range(1, len(records) + 1)), path
        found.update({(r["target"], r["id"]): r for r in records})
    return found


def assert_error_is_json(case: Case, status: int, content_type: str, body: bytes) -> None:
    """Every refusal is ``{"ok": false, "error": "..."}`` that says what was wrong."""
    if status < 400:
        return
    where = f"{case.method} {case.formatted_path} -> {status}"
    assert content_type.startswith("application/json"), f"{where}: {content_type} {body[:200]!r}"
    data = json.loads(body)
    assert data["ok"] is False, where
    assert isinstance(data["error"], str) and len(data["error"]) > 10, (where, data)
    assert "Traceback" not in data["error"] and TOKEN not in data["error"], (where, data)


@pytest.mark.parametrize(
    ("path", "method", "mode", "client"), RUNS, ids=[f"{m} {p} {mode} {c}" for p, m, mode, c in RUNS]
)
def test_every_operation_answers_fuzzed_requests_by_its_schema(
    tmp_path: Path, path: str, method: str, mode: GenerationMode, client: str
) -> None:
    load_all_checks()
    from schemathesis.checks import positive_data_acceptance  # registered by load_all_checks

    app = build_app(tmp_path / "data", client)
    headers = client_headers(app, client)
    config = schemathesis.Config.from_dict(CONFIG)
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app, config=config, headers=headers)
    operation = schema[path][method]
    statuses: dict[int, int] = {}
    posted: dict[tuple[str, int], dict[str, Any]] = {}

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        derandomize=False,
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Case) -> None:
        response = case.call(headers=headers)
        excluded = []
        sent = {name for name, value in (case.query or {}).items() if str(value) != ""}  # "": absent
        if mode == GenerationMode.POSITIVE and {"since_id", "before_id"} <= sent:
            # The one rule OpenAPI cannot state (parameters that exclude each other): always a 400.
            assert response.status_code == 400 and b"not both" in response.content, response.content
            excluded.append(positive_data_acceptance)
        case.validate_response(response, headers=headers, excluded_checks=excluded)
        assert_error_is_json(
            case, response.status_code, response.headers.get("content-type", [""])[0], response.content
        )
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        if response.status_code == 201:
            message = json.loads(response.content)["message"]
            posted[(message["target"], message["id"])] = message

    run()
    cases = sum(statuses.values())
    count("api_fuzz.cases", cases)
    count(f"api_fuzz.cases.{mode}", cases)
    for status, seen in statuses.items():
        count(f"api_fuzz.status.{status}", seen)
    assert 500 not in statuses
    assert stored_messages(tmp_path / "data") == posted  # each exactly once, as answered, nothing else
    if mode == GenerationMode.POSITIVE and method == "POST":
        assert statuses.get(201), statuses  # the fuzzer did get messages through, not only refusals
