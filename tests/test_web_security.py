"""Host allowlist, cross-site write refusal, CSRF token, auth token and response headers, per route."""

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from relay_web.security import CSRF_HEADER, SESSION_COOKIE, csrf_token

GET_ROUTES = [
    "/",
    "/channels/proj-x",
    "/ui/channels/proj-x/updates?since_id=0",
    "/ui/channels/proj-x/older?before_id=5",
    "/api/channels",
    "/api/messages?target=proj-x",
    "/healthz",
    "/openapi.json",
    "/assets/pygments.css",
    "/static/relay.js",
]
MESSAGE = {"target": "proj-x", "sender": "me", "text": "hi"}


def token_of(app: Flask) -> str:
    with app.test_request_context():
        return csrf_token()


def browser_post(client: FlaskClient, app: Flask, origin: str = "http://localhost:8010", **headers: str):  # type: ignore[no-untyped-def]
    sent = {"Origin": origin, CSRF_HEADER: token_of(app), "Sec-Fetch-Site": "same-origin", **headers}
    return client.post("/api/messages", json=MESSAGE, headers=sent)


@pytest.mark.parametrize("path", GET_ROUTES)
@pytest.mark.parametrize("host", ["localhost", "localhost:8010", "127.0.0.1:1234", "[::1]:8010"])
def test_loopback_hosts_are_served_on_any_port(client: FlaskClient, path: str, host: str) -> None:
    with client.get(path, headers={"Host": host}) as response:  # closes static files
        assert response.status_code == 200


@pytest.mark.parametrize("path", [*GET_ROUTES, "/nope", "/login"])
@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:8010", "localhost.evil.example", "127.0.0.1.nip.io"]
)
def test_foreign_hosts_get_403_on_every_route(client: FlaskClient, path: str, host: str) -> None:
    response = client.get(path, headers={"Host": host})
    assert response.status_code == 403
    assert "allowed_hosts" in response.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/", "/channels/proj-x", "/nope", "/static/relay.js"])
def test_a_refused_host_reads_no_csrf_token_and_no_store_path(
    client: FlaskClient, app: Flask, path: str
) -> None:
    # A DNS-rebinding page can read the 403 page: it must not learn the token or where the store is.
    body = client.get(path, headers={"Host": "evil.example"}).get_data(as_text=True)
    assert token_of(app) not in body and 'name="csrf-token"' not in body
    assert str(app.extensions["relay_web"].config.data_dir) not in body
    mistyped = client.get("/nope").get_data(as_text=True)  # a reader's own mistake still shows both
    assert token_of(app) in mistyped and str(app.extensions["relay_web"].config.data_dir) in mistyped


def test_a_dns_rebinding_post_is_refused_and_writes_nothing(client: FlaskClient, app: Flask) -> None:
    response = client.post("/api/messages", json=MESSAGE, headers={"Host": "attacker.example:8010"})
    assert response.status_code == 403 and response.get_json()["ok"] is False
    assert app.extensions["relay_web"].relay.store.read_last("proj-x", 5) == []


@pytest.mark.parametrize(
    ("host", "status"),
    [("relay.lan", 200), ("relay.lan:9999", 200), ("box:8443", 200), ("box:8444", 403), ("box", 403)],
)
@pytest.mark.parametrize("path", ["/", "/api/channels", "/healthz"])
def test_allowed_hosts_bare_means_any_port_and_host_port_exact(
    make_app, path: str, host: str, status: int
) -> None:  # type: ignore[no-untyped-def]
    client = make_app(allowed_hosts=["relay.lan", "box:8443"]).test_client()
    assert client.get(path, headers={"Host": host}).status_code == status


def test_a_bad_allowed_hosts_entry_is_a_config_error(make_app) -> None:  # type: ignore[no-untyped-def]
    from shared.errors import ConfigError

    with pytest.raises(ConfigError, match="allowed_hosts"):
        make_app(allowed_hosts=["host:notaport"])


def test_a_page_post_with_origin_and_csrf_token_is_accepted_as_web_ui(
    client: FlaskClient, app: Flask
) -> None:
    response = browser_post(client, app)
    assert response.status_code == 201 and response.get_json()["message"]["source"] == "web-ui"


def test_the_page_carries_the_csrf_token(client: FlaskClient, app: Flask) -> None:
    html = client.get("/channels/proj-x").get_data(as_text=True)
    found = re.search(r'<meta name="csrf-token" content="([0-9a-f]{64})">', html)
    assert found is not None and found.group(1) == token_of(app)


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "null"},
        {"Origin": "http://localhost:8010", CSRF_HEADER: ""},
        {"Origin": "http://localhost:8010", CSRF_HEADER: "0" * 64},
        {"Origin": "http://localhost:8010", CSRF_HEADER: "ünïcode"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Origin": "http://localhost:8010", "Sec-Fetch-Site": "cross-site"},
    ],
    ids=[
        "foreign-origin",
        "null-origin",
        "no-token",
        "wrong-token",
        "non-ascii-token",
        "cross-site",
        "cross-site-2",
    ],
)
def test_cross_site_or_tokenless_browser_writes_get_403(
    client: FlaskClient, app: Flask, headers: dict[str, str]
) -> None:
    sent = {CSRF_HEADER: token_of(app), **headers} if CSRF_HEADER not in headers else headers
    if "Origin" not in headers:
        sent.pop("Origin", None)
    response = client.post("/api/messages", json=MESSAGE, headers=sent)
    assert response.status_code == 403
    assert response.get_json()["ok"] is False
    assert app.extensions["relay_web"].relay.store.read_last("proj-x", 5) == []


def test_a_browser_without_origin_header_but_fetch_metadata_needs_the_token(client: FlaskClient) -> None:
    response = client.post("/api/messages", json=MESSAGE, headers={"Sec-Fetch-Site": "same-origin"})
    assert response.status_code == 403


def test_a_token_from_another_process_is_stale(client: FlaskClient, make_app) -> None:  # type: ignore[no-untyped-def]
    other = make_app()
    response = browser_post(client, other)
    assert response.status_code == 403 and "reload the page" in response.get_json()["error"]


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/x-www-form-urlencoded", b"target=proj-x&sender=me&text=hi"),
        ("multipart/form-data; boundary=x", b"--x--"),
        ("text/plain", b'{"target": "proj-x", "sender": "me", "text": "hi"}'),
        (None, b'{"target": "proj-x", "sender": "me", "text": "hi"}'),
    ],
)
def test_script_writes_must_be_json_else_415(
    client: FlaskClient, content_type: str | None, body: bytes
) -> None:
    response = client.post("/api/messages", data=body, content_type=content_type)
    assert response.status_code == 415
    assert "application/json" in response.get_json()["error"]


def test_a_form_post_from_a_page_with_origin_is_403_not_processed(client: FlaskClient) -> None:
    response = client.post(
        "/api/messages",
        data={"target": "proj-x", "sender": "me", "text": "hi"},
        headers={"Origin": "http://evil.example"},
    )
    assert response.status_code == 403


# --- auth_token ---------------------------------------------------------------------------------


@pytest.fixture
def locked(make_app) -> Flask:  # type: ignore[no-untyped-def]
    return make_app(auth_token="s3cret-token")  # type: ignore[no-any-return]


@pytest.mark.parametrize("path", [p for p in GET_ROUTES if p.startswith(("/api/", "/ui/", "/openapi"))])
def test_with_auth_token_api_reads_need_the_bearer_token(locked: Flask, path: str) -> None:
    client = locked.test_client()
    refused = client.get(path)
    assert refused.status_code == 401 and "Authorization: Bearer" in refused.get_json()["error"]
    assert client.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get(path, headers={"Authorization": "Bearer s3cret-token"}).status_code == 200


@pytest.mark.parametrize("path", ["/", "/channels/proj-x", "/channels/proj-x?x=1"])
def test_with_auth_token_pages_redirect_to_the_login_form(locked: Flask, path: str) -> None:
    response = locked.test_client().get(path)
    assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=")


def test_with_auth_token_an_unauthenticated_visitor_sees_no_store_path(locked: Flask) -> None:
    data_dir = str(locked.extensions["relay_web"].config.data_dir)
    client = locked.test_client()
    for path in ("/login", "/login?next=/channels/x"):
        assert data_dir not in client.get(path).get_data(as_text=True)
    assert data_dir not in client.get("/nope", headers={"Host": "evil.example"}).get_data(as_text=True)


@pytest.mark.parametrize("path", ["/healthz", "/static/relay.css", "/assets/pygments.css", "/login"])
def test_with_auth_token_health_login_and_assets_stay_public(locked: Flask, path: str) -> None:
    with locked.test_client().get(path) as response:
        assert response.status_code == 200


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer", "Bearer wrong", "Basic czNjcmV0LXRva2Vu", "s3cret-token", "Bearer s3cret-token2"],
)
def test_with_auth_token_script_writes_need_the_exact_bearer_token(
    locked: Flask, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = locked.test_client().post("/api/messages", json=MESSAGE, headers=headers)
    assert response.status_code == 401
    assert locked.extensions["relay_web"].relay.store.read_last("proj-x", 5) == []


def test_with_auth_token_a_bearer_write_is_accepted(locked: Flask) -> None:
    client = locked.test_client()
    response = client.post("/api/messages", json=MESSAGE, headers={"Authorization": "bearer s3cret-token"})
    assert response.status_code == 201 and response.get_json()["message"]["source"] == "api"


def test_login_sets_a_strict_cookie_that_opens_pages_and_page_posts(locked: Flask) -> None:
    client = locked.test_client()
    form = {"csrf": token_of(locked), "token": "wrong", "next": "/channels/proj-x"}
    assert client.post("/login", data=form).status_code == 403
    assert client.get_cookie(SESSION_COOKIE) is None
    response = client.post("/login", data={**form, "token": "s3cret-token"})
    assert response.status_code == 302 and response.headers["Location"] == "/channels/proj-x"
    cookie = client.get_cookie(SESSION_COOKIE)
    assert cookie is not None and cookie.http_only and cookie.same_site == "Strict"
    assert "s3cret-token" not in cookie.value
    assert client.get("/channels/proj-x").status_code == 200
    assert browser_post(client, locked).status_code == 201
    assert browser_post(client, locked, **{CSRF_HEADER: "bad"}).status_code == 403


# Each of these is another site to a browser: it deletes tabs and line breaks anywhere in a URL, strips
# other control characters and spaces at its ends, and reads a backslash as a slash.
OFF_SITE_NEXT = [
    "https://evil.example/",
    "http:evil.example",
    "javascript:alert(1)",
    "evil.example",
    "//evil.example/x",
    "///evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/\\/evil.example",
    "//\\evil.example",
    *(f"/{c}/evil.example" for c in "\t\n\r\x00\x01\x0b\x0c\x1b\x1f\x7f\x85\x9f"),
    *(f"{c}//evil.example" for c in "\t\n\r \x00\x1f"),
    "/\t\t/evil.example",
    "/\r\n/evil.example",
    "/x\nLocation: //evil.example",
    "",
]


@pytest.mark.parametrize("next_url", OFF_SITE_NEXT)
def test_login_never_redirects_off_site(locked: Flask, next_url: str) -> None:
    client = locked.test_client()
    shown = client.get("/login", query_string={"next": next_url}).get_data(as_text=True)
    assert 'name="next" value="/"' in shown
    form = {"csrf": token_of(locked), "token": "s3cret-token", "next": next_url}
    response = client.post("/login", data=form)
    assert response.status_code == 302 and response.headers["Location"] == "/"


@pytest.mark.parametrize(
    ("raw_query", "location"),
    [
        ("next=/%09/evil.example", "/"),  # the reported attack: %09 is a tab once decoded
        ("next=/%0d%0a/evil.example", "/"),
        ("next=%2f%2fevil.example", "/"),
        ("next=/%5cevil.example", "/"),
        ("next=/channels/proj-x%3Fx%3D1", "/channels/proj-x?x=1"),
        ("next=/channels/%25%32%46", "/channels/%2F"),  # stays percent-encoded: a path to the browser
        ("next=/caf%C3%A9%20x", "/caf%C3%A9%20x"),  # non-ASCII and spaces are sent percent-encoded
    ],
)
def test_login_next_from_the_query_string_stays_a_path_on_this_site(
    locked: Flask, raw_query: str, location: str
) -> None:
    client = locked.test_client()
    assert client.get(f"/login?{raw_query}").status_code == 200
    form = {"csrf": token_of(locked), "token": "s3cret-token"}
    response = client.post(f"/login?{raw_query}", data=form)
    assert response.status_code == 302 and response.headers["Location"] == location


def test_login_refuses_a_cross_site_form(locked: Flask) -> None:
    form = {"csrf": token_of(locked), "token": "s3cret-token"}
    response = locked.test_client().post("/login", data=form, headers={"Origin": "http://evil.example"})
    assert response.status_code == 403
    assert locked.test_client().post("/login", data={"token": "s3cret-token"}).status_code == 403


# --- headers ------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [*GET_ROUTES, "/nope"])
def test_every_response_carries_the_security_headers(client: FlaskClient, path: str) -> None:
    with client.get(path) as response:
        headers = response.headers
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert "default-src 'none'" in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "same-origin"


@pytest.mark.parametrize("path", ["/", "/channels/proj-x"])
def test_pages_have_no_inline_script_or_handlers(client: FlaskClient, app: Flask, path: str) -> None:
    app.extensions["relay_web"].relay.post("proj-x", "hello", "a", source="cli")
    html = client.get(path).get_data(as_text=True)
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html) == []
    assert re.search(r"\son[a-z]+\s*=", html) is None
    assert client.get(path).headers["Cache-Control"] == "no-store"
