import pytest

from relay_web.hosts import HostRules, is_loopback_bind, split_host


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("localhost", ("localhost", None)),
        ("LocalHost:8010", ("localhost", "8010")),
        ("[::1]", ("[::1]", None)),
        ("[::1]:8010", ("[::1]", "8010")),
        ("fe80::1", ("[fe80::1]", None)),
        ("relay.lan:*", ("relay.lan", "*")),
    ],
)
def test_split_host_reads_names_ports_and_ipv6(value: str, expected: tuple[str, str | None]) -> None:
    assert split_host(value) == expected


@pytest.mark.parametrize("value", ["", "  ", "[::1", "[::1]x", "host:port", ":80", "[]"])
def test_split_host_rejects_malformed_values(value: str) -> None:
    with pytest.raises(ValueError):
        split_host(value)


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("localhost", True),
        ("localhost:8010", True),
        ("127.0.0.1:9", True),
        ("[::1]:8010", True),
        ("relay.lan", True),
        ("RELAY.LAN:1234", True),
        ("box:8443", True),
        ("box:8444", False),
        ("box", False),
        ("evil.example", False),
        ("localhost.evil.example", False),
        ("127.0.0.1.nip.io:8010", False),
        ("localhost:*", False),
        ("", False),
        (None, False),
        ("[::1", False),
    ],
)
def test_host_rules_follow_allowed_hosts_semantics(host: str | None, allowed: bool) -> None:
    rules = HostRules(["relay.lan", "box:8443"])
    assert rules.allows(host) is allowed


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("http://localhost:8010", True),
        ("https://127.0.0.1", True),
        ("http://relay.lan:9000", True),
        ("http://evil.example", False),
        ("null", False),
        (None, False),
        ("file://", False),
        ("chrome-extension://abc", False),
        ("http://localhost:8010/path", False),
    ],
)
def test_origins_must_be_http_on_an_allowed_host(origin: str | None, allowed: bool) -> None:
    assert HostRules(["relay.lan"]).allows_origin(origin) is allowed


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("localhost", True),
        ("::1", True),
        ("[::1]", True),
        ("0.0.0.0", False),
        ("::", False),
        ("192.168.1.5", False),
        ("my-laptop.local", False),
    ],
)
def test_only_loopback_binds_count_as_local(host: str, loopback: bool) -> None:
    assert is_loopback_bind(host) is loopback
