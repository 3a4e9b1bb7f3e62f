"""``relay-web``: option handling, the bind rule, and a real process serving the API."""

import json
import socket
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from relay_web.__main__ import main
from tests.e2e.web_server import running_relay_web


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "my-laptop.local"])
def test_a_non_loopback_bind_without_token_is_refused(tmp_path: Path, host: str) -> None:
    result = CliRunner().invoke(main, ["--data-dir", str(tmp_path), "--host", host])
    assert result.exit_code == 1
    assert f"refusing to listen on {host}" in result.output
    assert "--allow-unauthenticated" in result.output and "auth_token" in result.output


def test_a_bad_config_value_is_one_clear_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["--data-dir", str(tmp_path)], env={"CLAUDE_CODEX_PORT": "abc"})
    assert result.exit_code == 1
    assert "port = 'abc' from env CLAUDE_CODEX_PORT: expected a whole number" in result.output


def test_help_lists_every_option() -> None:
    result = CliRunner().invoke(main, ["--help"])
    for option in ("--config", "--data-dir", "--host", "--port", "--allow-unauthenticated"):
        assert option in result.output


def _request(url: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read()


def _status_of_announced_oversized_post(base: str, size: int) -> int:
    """Announce a body over the limit but send none of it: the server must refuse from the headers.

    (Sending the body too would race the server's early refusal: it answers and closes while the
    client is still writing, and the client sees a connection reset instead of the status.)
    """
    host, port = base.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(
            f"POST /api/messages HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {size}\r\nConnection: close\r\n\r\n".encode()
        )
        status_line = sock.makefile("rb").readline().decode()
    return int(status_line.split()[1])


@pytest.mark.e2e
def test_relay_web_serves_the_store_and_prints_url_and_registration(tmp_path: Path) -> None:
    data_dir = tmp_path / "store"
    with running_relay_web(tmp_path / "home", data_dir) as (base, printed):
        assert f"serving on {base}/" in printed
        assert f"--data-dir {data_dir} setup claude --apply" in printed
        assert "claude mcp add --transport stdio --scope local relay --" in printed
        assert "[mcp_servers.relay]" in printed and f"Store: {data_dir}" in printed
        assert _request(f"{base}/healthz") == (200, b"ok")
        body = json.dumps({"target": "proj-x", "sender": "script", "text": "from a real server"}).encode()
        status, raw = _request(f"{base}/api/messages", body, {"Content-Type": "application/json"})
        assert status == 201 and json.loads(raw)["posted"] == 1
        status, raw = _request(f"{base}/api/messages?target=proj-x&since_id=0")
        assert [m["text"] for m in json.loads(raw)["messages"]] == ["from a real server"]
        assert _request(f"{base}/api/channels", headers={"Host": "evil.example"})[0] == 403
        assert _status_of_announced_oversized_post(base, 7 * 262144) == 413
    stored = (data_dir / "channels" / "proj-x.jsonl").read_text()
    assert json.loads(stored)["source"] == "api"


DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_every_relay_web_option_is_documented() -> None:
    documented = (DOCS / "configuration.md").read_text()
    for param in main.params:
        for option in getattr(param, "opts", []):
            if option.startswith("--") and option not in ("--help", "--version"):
                assert f"`{option}`" in documented, option


def test_every_route_is_documented(app) -> None:  # type: ignore[no-untyped-def]
    documented = (DOCS / "http-api.md").read_text()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        assert rule.rule in documented, rule.rule
