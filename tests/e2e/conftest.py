"""Helpers for tests that launch real ``relay-stdio`` processes."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest


def relay_stdio_command() -> list[str]:
    """The installed console script if there is one next to this Python, else ``python -m relay_stdio``."""
    script = Path(sys.executable).with_name("relay-stdio")
    if script.exists():
        return [str(script)]
    found = shutil.which("relay-stdio")
    return [found] if found else [sys.executable, "-m", "relay_stdio"]


def relay_cli() -> list[str]:
    """The ``relay`` CLI installed next to this Python, else the same entry point through this Python."""
    script = Path(sys.executable).with_name("relay")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from relay_stdio.cli import main; main()"]


def child_env(home: Path, **extra: str) -> dict[str, str]:
    """A small environment like the one Codex gives its servers: HOME, PATH, LANG, plus ``extra``."""
    env = {"HOME": str(home), "PATH": os.environ.get("PATH", ""), "LANG": "C.UTF-8"}
    for name in ("PYTHONPATH", "SYSTEMROOT"):
        if name in os.environ:
            env[name] = os.environ[name]
    env.update(extra)
    return env


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
