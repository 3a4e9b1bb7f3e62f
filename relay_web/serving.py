"""How ``relay-web`` sizes its server: open connections, idle timeouts and the process's file limit.

waitress by default serves at most 100 connections at once and closes an idle one only after two
minutes, so 101 connections that never send a request (cheap to open from one machine, and opened
before any auth check) took the viewer offline, ``/healthz`` included. The viewer is polled by
dozens of pages and scripts, each holding a keep-alive connection, so the limit is sized in
thousands, idle connections are closed after seconds, and the file limit is raised to fit.
See docs/reliability.md for the measurement and docs/security.md for what is left to a proxy.
"""

from __future__ import annotations

import resource
from typing import Any

CONNECTIONS_MAX = 4096  # open connections served at once; each idle one costs a few KB
FILES_RESERVED = 128  # descriptors kept for channel files, locks, logs and the worker threads
FILES_WANTED = CONNECTIONS_MAX + FILES_RESERVED
CHANNEL_TIMEOUT_S = 30  # an idle connection (no request in progress) is closed after this
CLEANUP_INTERVAL_S = 5  # how often idle connections are looked for
CONNECTIONS_MIN = 100  # waitress's own default, kept when the file limit allows no more


def raise_open_file_limit(wanted: int = FILES_WANTED) -> int:
    """Raise this process's soft limit on open files toward ``wanted`` (never past the hard limit).

    Returns:
        The soft limit in force afterwards. Many systems start processes at 1024, which would cap
        the connections far below what the viewer can serve; raising the soft limit needs no privilege.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass  # keep the limit there is; the connection limit follows it
    return wanted if soft == resource.RLIM_INFINITY else soft


def server_options(open_files: int) -> dict[str, Any]:
    """waitress settings for a process that may hold ``open_files`` descriptors."""
    return {
        "connection_limit": max(CONNECTIONS_MIN, min(CONNECTIONS_MAX, open_files - FILES_RESERVED)),
        "channel_timeout": CHANNEL_TIMEOUT_S,
        "cleanup_interval": CLEANUP_INTERVAL_S,
        # select() cannot watch a descriptor numbered 1024 or more; poll() can, at any count
        "asyncore_use_poll": True,
    }
