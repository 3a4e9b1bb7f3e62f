"""The HTTP API through Flask's test client: shapes, limits and every error status."""

import json
import os
from pathlib import Path

import filelock
import pytest
from flask import Flask
from flask.testing import FlaskClient

from relay_web.app import body_limit
from shared.relay import Relay
from shared.storage.files.store import FileStore


def post(client: FlaskClient, body: object, **kwargs: object):  # type: ignore[no-untyped-def]
    return client.post("/api/messages", json=body, **kwargs)


def relay_of(app: Flask) -> Relay:
    return app.extensions["relay_web"].relay  # type: ignore[no-any-return]


def test_post_returns_201_with_the_stored_record_and_source_api(client: FlaskClient, app: Flask) -> None:
    response = post(client, {"target": "Proj-X", "sender": "claude", "text": "hello"})
    assert response.status_code == 201
    body = response.get_json()
    assert body["ok"] is True and body["posted"] == 1
    message = body["message"]
    assert (message["id"], message["target"], message["sender"], message["text"], message["source"]) == (
        1,
        "proj-x",
        "claude",
        "hello",
        "api",
    )
    assert relay_of(app).store.read_since("proj-x", 0, 10)[0] == [message]


def test_post_accepts_reply_to(client: FlaskClient) -> None:
    post(client, {"target": "t", "sender": "a", "text": "question"})
    response = post(client, {"target": "t", "sender": "b", "text": "answer", "reply_to": 1})
    assert response.status_code == 201 and response.get_json()["message"]["reply_to"] == 1


def test_reply_to_as_a_json_number_with_zero_fraction_is_stored_as_a_whole_number(
    client: FlaskClient, data_dir: Path
) -> None:
    # Found by the schemathesis fuzz: "integer" in /openapi.json includes 1.0 (JSON Schema).
    response = post(client, {"target": "t", "sender": "b", "text": "answer", "reply_to": 1.0})
    assert response.status_code == 201 and response.get_json()["message"]["reply_to"] == 1
    assert '"reply_to": 1}' in (data_dir / "channels" / "t.jsonl").read_text()


def test_get_messages_returns_the_last_n_oldest_first(client: FlaskClient, app: Flask) -> None:
    for i in range(1, 121):
        relay_of(app).post("proj-x", f"m{i}", "claude", source="cli")
    body = client.get("/api/messages?target=proj-x").get_json()
    assert body["target"] == "proj-x"
    assert [m["id"] for m in body["messages"]] == list(range(71, 121))
    assert [m["text"] for m in body["messages"]] == [f"m{i}" for i in range(71, 121)]
    assert body["latest_id"] == 120 and body["has_more"] is True
    small = client.get("/api/messages?target=PROJ-X&limit=3").get_json()
    assert [m["id"] for m in small["messages"]] == [118, 119, 120]
    assert len(client.get("/api/messages?target=proj-x&limit=0").get_json()["messages"]) == 1
    assert len(client.get("/api/messages?target=proj-x&limit=100000").get_json()["messages"]) == 120


def test_limit_is_clamped_to_500(client: FlaskClient, app: Flask, data_dir: Path) -> None:
    path = FileStore(data_dir).channel_path("big")
    path.parent.mkdir(parents=True)
    with path.open("w") as handle:
        for i in range(1, 601):
            handle.write(json.dumps({"id": i, "ts": 1.0, "target": "big", "sender": "s", "text": "x"}) + "\n")
    body = client.get("/api/messages?target=big&limit=900").get_json()
    assert [m["id"] for m in body["messages"]] == list(range(101, 601))
    after = client.get("/api/messages?target=big&since_id=0&limit=900").get_json()
    assert [m["id"] for m in after["messages"]] == list(range(1, 501)) and after["has_more"] is True


def test_since_id_returns_newer_messages_and_latest_id(client: FlaskClient, app: Flask) -> None:
    for i in range(1, 8):
        relay_of(app).post("t", f"m{i}", "a", source="cli")
    body = client.get("/api/messages?target=t&since_id=3&limit=2").get_json()
    assert [m["id"] for m in body["messages"]] == [4, 5]
    assert body["latest_id"] == 5 and body["has_more"] is True
    rest = client.get("/api/messages?target=t&since_id=5").get_json()
    assert [m["text"] for m in rest["messages"]] == ["m6", "m7"] and rest["has_more"] is False
    none = client.get("/api/messages?target=t&since_id=7").get_json()
    assert none["messages"] == [] and none["latest_id"] == 7


def test_query_numbers_with_a_zero_fraction_are_whole_numbers(client: FlaskClient, app: Flask) -> None:
    # Found by the schemathesis fuzz: it writes the "integer" 10 as "10.0", as JSON Schema allows.
    for i in range(1, 8):
        relay_of(app).post("t", f"m{i}", "a", source="cli")
    body = client.get("/api/messages?target=t&since_id=3.0&limit=2.0").get_json()
    assert [m["id"] for m in body["messages"]] == [4, 5]
    assert [m["id"] for m in client.get("/api/messages?target=t&before_id=2.0").get_json()["messages"]] == [1]


@pytest.mark.parametrize(
    "raw", ["%1F", "%20", "%205", "5%20", "1_000", "%D9%A3", "1e3", "+5", "3.5", "0x10", "five"]
)
def test_query_numbers_must_be_plain_digits(client: FlaskClient, app: Flask, raw: str) -> None:
    # Found by the schemathesis fuzz: before_id=%1F (a character Python's strip() removes) was read
    # as "absent" and answered 200; int() would also take " 5", "1_000" and Arabic-Indic digits.
    relay_of(app).post("t", "m1", "a", source="cli")
    for name in ("limit", "since_id", "before_id"):
        response = client.get(f"/api/messages?target=t&{name}={raw}")
        assert response.status_code == 400, (name, raw, response.get_json())
        error = response.get_json()["error"]
        assert f"{name}=" in error and "digits 0-9" in error
    assert client.get("/api/messages?target=t&before_id=&limit=").status_code == 200  # empty: absent


def test_before_id_pages_back(client: FlaskClient, app: Flask) -> None:
    for i in range(1, 8):
        relay_of(app).post("t", f"m{i}", "a", source="cli")
    body = client.get("/api/messages?target=t&before_id=4&limit=2").get_json()
    assert [m["id"] for m in body["messages"]] == [2, 3] and body["has_more"] is True


def test_unknown_channel_reads_empty(client: FlaskClient) -> None:
    body = client.get("/api/messages?target=nobody-here").get_json()
    assert body == {"target": "nobody-here", "messages": [], "latest_id": 0, "has_more": False}


def test_channels_lists_seeds_and_details(client: FlaskClient, app: Flask) -> None:
    relay_of(app).post("zeta", "hi", "codex", source="cli")
    body = client.get("/api/channels").get_json()
    assert body["channels"] == ["claude", "codex", "proj-x", "zeta"]
    zeta = body["details"][-1]
    assert zeta["target"] == "zeta" and zeta["count"] == 1 and zeta["last_sender"] == "codex"
    assert zeta["latest_id"] == 1 and isinstance(zeta["last_ts"], float)


def test_healthz_and_openapi(client: FlaskClient, app: Flask) -> None:
    health = client.get("/healthz")
    assert health.status_code == 200 and health.data == b"ok" and health.mimetype == "text/plain"
    spec = client.get("/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    assert {"/api/channels", "/api/messages", "/healthz", "/openapi.json"} <= set(spec["paths"])
    assert set(spec["paths"]["/api/messages"]) == {"get", "post"}
    api_rules = {r.rule for r in app.url_map.iter_rules() if r.rule.startswith("/api/")}
    assert api_rules <= set(spec["paths"])  # every API route is described


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"sender": "a", "text": "hi"}, "target is required"),
        ({"target": "../x", "sender": "a", "text": "hi"}, "letters, digits"),
        ({"target": "a/b", "sender": "a", "text": "hi"}, "letters, digits"),
        ({"target": "x" * 65, "sender": "a", "text": "hi"}, "1 to 64 characters"),
        ({"target": 5, "sender": "a", "text": "hi"}, "target must be a string"),
        ({"target": "t", "text": "hi"}, "sender is required"),
        ({"target": "t", "sender": "a" * 65, "text": "hi"}, "at most 64"),
        ({"target": "t", "sender": "a"}, "text is required"),
        ({"target": "t", "sender": "a", "text": "   "}, "text is required"),
        ({"target": "t", "sender": "a", "text": "nul\x00byte"}, "U+0000"),
        ({"target": "t", "sender": "a", "text": "hi", "reply_to": "x"}, "reply_to"),
        (["target", "t"], "must be a JSON object"),
    ],
)
def test_bad_bodies_are_400_with_the_rule(client: FlaskClient, body: object, fragment: str) -> None:
    response = post(client, body)
    assert response.status_code == 400
    error = response.get_json()
    assert error["ok"] is False and fragment in error["error"]


@pytest.mark.parametrize("raw", [b"{not json", b"", b"\xff\xfe", b'{"target": "t",'])
def test_invalid_json_is_400(client: FlaskClient, raw: bytes) -> None:
    response = client.post("/api/messages", data=raw, content_type="application/json")
    assert response.status_code == 400
    assert "not valid JSON" in response.get_json()["error"]


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("", "target is required"),
        ("target=../etc", "letters, digits"),
        ("target=t&limit=abc", "limit must be a whole number"),
        ("target=t&since_id=-1", "since_id must be"),
        ("target=t&since_id=1.5", "since_id must be"),
        ("target=t&since_id=inf", "since_id must be"),
        ("target=t&since_id=nan", "since_id must be"),
        ("target=t&limit=1e400", "limit must be"),
        ("target=t&before_id=x", "before_id must be"),
        ("target=t&since_id=1&before_id=5", "not both"),
    ],
)
def test_bad_queries_are_400(client: FlaskClient, query: str, fragment: str) -> None:
    response = client.get(f"/api/messages?{query}")
    assert response.status_code == 400
    assert fragment in response.get_json()["error"]


def test_text_over_max_message_bytes_is_413_with_both_sizes(make_app) -> None:  # type: ignore[no-untyped-def]
    client = make_app(max_message_bytes=100).test_client()
    response = post(client, {"target": "t", "sender": "a", "text": "é" * 60})
    assert response.status_code == 413
    assert "120 bytes" in response.get_json()["error"] and "limit is 100" in response.get_json()["error"]


def test_a_body_over_the_request_limit_is_413_before_it_is_read(make_app) -> None:  # type: ignore[no-untyped-def]
    app = make_app(max_message_bytes=100)
    limit = body_limit(100)
    assert app.config["MAX_CONTENT_LENGTH"] == limit
    response = app.test_client().post(
        "/api/messages", data=b"x" * (limit + 1), content_type="application/json"
    )
    assert response.status_code == 413
    assert f"limit is {limit}" in response.get_json()["error"]


def test_a_maximal_message_fits_whatever_the_json_escaping(make_app) -> None:  # type: ignore[no-untyped-def]
    client = make_app(max_message_bytes=3000).test_client()
    text = "<" * 3000  # 6 bytes each when a client escapes HTML characters as \\u003c
    raw = json.dumps({"target": "t", "sender": "a", "text": text}).replace("<", "\\u003c")
    response = client.post("/api/messages", data=raw, content_type="application/json")
    assert response.status_code == 201 and response.get_json()["message"]["text"] == text


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/channels"),
        ("delete", "/api/messages"),
        ("put", "/api/messages"),
        ("post", "/healthz"),
        ("post", "/openapi.json"),
        ("delete", "/ui/channels/t/updates"),
    ],
)
def test_wrong_methods_are_405_json_with_allow(client: FlaskClient, method: str, path: str) -> None:
    response = getattr(client, method)(path, json={})
    assert response.status_code == 405
    assert response.get_json()["ok"] is False and "not allowed" in response.get_json()["error"]
    assert "GET" in response.headers["Allow"]


def test_wrong_method_on_a_page_is_an_html_405(client: FlaskClient) -> None:
    response = client.post("/channels/t", data={"x": "y"})
    assert response.status_code == 405 and response.mimetype == "text/html"


def test_unknown_api_path_is_404_json(client: FlaskClient) -> None:
    response = client.get("/api/nope")
    assert response.status_code == 404 and "/openapi.json" in response.get_json()["error"]


def test_a_locked_channel_is_503_store_busy(make_app, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    client = make_app(lock_timeout_s=0.2).test_client()
    (data_dir / "locks").mkdir(parents=True)
    with filelock.FileLock(str(data_dir / "locks" / "t.lock")):
        response = post(client, {"target": "t", "sender": "a", "text": "hi"})
    assert response.status_code == 503 and response.headers["Retry-After"] == "1"
    assert "store busy" in response.get_json()["error"]
    assert post(client, {"target": "t", "sender": "a", "text": "hi"}).status_code == 201


def test_a_store_failure_is_500_with_a_clear_message(
    client: FlaskClient, data_dir: Path, tmp_path: Path
) -> None:
    channels = data_dir / "channels"
    channels.mkdir(parents=True)
    (tmp_path / "elsewhere.jsonl").write_text("")
    os.symlink(tmp_path / "elsewhere.jsonl", channels / "t.jsonl")
    response = post(client, {"target": "t", "sender": "a", "text": "hi"})
    assert response.status_code == 500
    assert "symbolic link" in response.get_json()["error"]
    assert (tmp_path / "elsewhere.jsonl").read_text() == ""


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 100_000,
        b'{"a": ' * 100_000,
        b'{"target": "t", "sender": "a", "text": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    ],
)
def test_deeply_nested_json_is_400_not_500(client: FlaskClient, app: Flask, raw: bytes) -> None:
    response = client.post("/api/messages", data=raw, content_type="application/json")
    assert response.status_code == 400
    error = response.get_json()
    assert error["ok"] is False and "nests JSON arrays or objects too deeply" in error["error"]
    assert relay_of(app).store.read_last("t", 5) == []


def test_every_500_is_in_the_log_file_with_its_cause(data_dir: Path, tmp_path: Path) -> None:
    from relay_web import create_app
    from shared.config import resolve_config
    from shared.logs import flush_logs, setup_logging

    config = resolve_config({"data_dir": str(data_dir)}, env={})
    app = create_app(config)  # not TESTING: errors are handled (and logged) as in production

    def fails_unexpectedly() -> str:
        raise RuntimeError("an unexpected failure for the log")

    app.add_url_rule("/api/fails", view_func=fails_unexpectedly)  # the one way to reach a 500 on purpose
    setup_logging(config)
    client = app.test_client()
    assert (
        client.post("/api/messages", data=b"[" * 100_000, content_type="application/json").status_code == 400
    )
    unexpected = client.get("/api/fails")
    assert unexpected.status_code == 500
    assert unexpected.get_json() == {
        "ok": False,
        "error": "internal error; the details are in the relay-web log",
    }
    (data_dir / "channels").mkdir(parents=True)
    (tmp_path / "elsewhere.jsonl").write_text("")
    os.symlink(tmp_path / "elsewhere.jsonl", data_dir / "channels" / "t.jsonl")
    assert post(client, {"target": "t", "sender": "a", "text": "hi"}).status_code == 500
    flush_logs()
    logged = config.log_path.read_text(encoding="utf-8")
    assert "ERROR [" in logged and "GET /api/fails failed with an unexpected error" in logged
    assert "Traceback" in logged and "RuntimeError: an unexpected failure for the log" in logged
    assert "POST /api/messages failed" in logged and "symbolic link" in logged
    assert "RecursionError" not in logged  # the deep body was the client's error, answered 400
