"""Finding the MCP clients written by others (npm packages in ``tests/e2e/node``) for the e2e tests.

``scripts/test.sh`` installs them with ``npm ci`` into the git-ignored ``tests/e2e/node/node_modules``.
When Node.js or the packages are missing, a test fails in CI (``CI`` set, as on the CI machine) and is
skipped with the reason locally, so a developer without Node.js can still run the rest of the suite.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

NODE_DIR = Path(__file__).parent / "node"
INSPECTOR = NODE_DIR / "node_modules" / ".bin" / "mcp-inspector"
TS_CLIENT = NODE_DIR / "client.mjs"
TS_SDK = NODE_DIR / "node_modules" / "@modelcontextprotocol" / "sdk" / "package.json"


def running_in_ci() -> bool:
    """True on CI machines, which set ``CI`` (usually ``CI=true``)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def unavailable(reason: str) -> None:
    fix = " Install Node.js 20+ with npm, then run scripts/test.sh (or `npm ci` in tests/e2e/node)."
    if running_in_ci():
        pytest.fail(f"real-client test cannot run in CI: {reason}.{fix}", pytrace=False)
    pytest.skip(f"{reason}.{fix}")


def node_command(script: Path, *needs: Path) -> list[str]:
    """``[node, script]``, or fail (CI) / skip (locally) naming what is missing."""
    node = shutil.which("node")
    if node is None:
        unavailable("`node` is not on PATH")
    for path in (script, *needs):
        if not path.exists():
            unavailable(f"{path.relative_to(NODE_DIR.parent.parent.parent)} is missing")
    assert node is not None
    return [node, str(script)]


def inspector_command() -> list[str]:
    """The MCP Inspector's launcher (``mcp-inspector``; add ``--cli`` first for its CLI mode)."""
    return node_command(INSPECTOR)


def ts_client_command() -> list[str]:
    """``client.mjs``, the official TypeScript SDK client script."""
    return node_command(TS_CLIENT, TS_SDK)


def node_bin(name: str) -> Path:
    """A program the npm packages install (``claude``, ``codex``), or fail (CI) / skip (locally)."""
    path = NODE_DIR / "node_modules" / ".bin" / name
    if not path.exists():
        unavailable(f"tests/e2e/node/node_modules/.bin/{name} is missing")
    return path
