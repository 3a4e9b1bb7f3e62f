"""Which ``Host`` and ``Origin`` values the viewer answers, and which bind addresses are loopback.

DNS rebinding: a hostile web page can make its own name resolve to 127.0.0.1, so a browser would send
the relay requests the page can read. Those requests carry the attacker's name in ``Host``, which is
why every request's ``Host`` must be a loopback name or one the user listed in ``allowed_hosts``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "[::1]")


def split_host(value: str) -> tuple[str, str | None]:
    """Split ``host``, ``host:port``, ``[v6]`` or ``[v6]:port`` into a lower-case host and a port.

    A bare IPv6 address (``::1``) is taken as a host without port and given its brackets.

    Raises:
        ValueError: the value is empty or malformed.
    """
    text = value.strip().lower()
    if not text:
        raise ValueError("empty host")
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            raise ValueError(f"unclosed '[' in {value!r}")
        host, rest = text[: close + 1], text[close + 1 :]
        if rest and not rest.startswith(":"):
            raise ValueError(f"unexpected {rest!r} after the address in {value!r}")
        port = rest[1:] or None
    elif text.count(":") > 1:
        host, port = f"[{text}]", None
    else:
        host, _, port_text = text.partition(":")
        port = port_text or None
    if not host or host == "[]":
        raise ValueError(f"no host name in {value!r}")
    if port is not None and port != "*" and not port.isdigit():
        raise ValueError(f"port {port!r} in {value!r} is not a number")
    return host, port


class HostRules:
    """The ``Host`` allowlist: loopback names on any port, plus ``allowed_hosts``.

    An entry without a port (or with ``:*``) allows that host on any port; ``host:port`` allows
    exactly that port.
    """

    def __init__(self, allowed_hosts: Iterable[str] = ()) -> None:
        self.any_port: set[str] = set(LOOPBACK_NAMES)
        self.exact: set[tuple[str, str]] = set()
        for entry in allowed_hosts:
            host, port = split_host(entry)
            if port is None or port == "*":
                self.any_port.add(host)
            else:
                self.exact.add((host, port))

    def allows(self, host_header: str | None) -> bool:
        """Whether a request's ``Host`` header names this relay."""
        if not host_header:
            return False
        try:
            host, port = split_host(host_header)
        except ValueError:
            return False
        if port == "*":
            return False
        return host in self.any_port or (port is not None and (host, port) in self.exact)

    def allows_origin(self, origin: str | None) -> bool:
        """Whether an ``Origin`` header is an http(s) origin on an allowed host (``null`` never is)."""
        if not origin or origin == "null":
            return False
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
            return False
        return self.allows(parts.netloc)


def is_loopback_bind(host: str) -> bool:
    """Whether binding ``host`` only listens on this machine (127.0.0.0/8, ::1 or ``localhost``)."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False  # a host name that may resolve anywhere: treat as exposed
