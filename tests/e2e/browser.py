"""Debian's headless Chromium, driven by Playwright (which never downloads a browser here)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    """``$RELAY_CHROMIUM`` or /usr/bin/chromium; missing fails the test in CI and skips it elsewhere."""
    path = os.environ.get("RELAY_CHROMIUM") or "/usr/bin/chromium"
    if Path(path).exists():
        return path
    message = f"Chromium not found at {path}: apt-get install chromium (or set RELAY_CHROMIUM)"
    if os.environ.get("CI"):
        pytest.fail(message + "; CI must run the browser tests, not skip them")
    pytest.skip(message)


@asynccontextmanager
async def launched_chromium() -> AsyncIterator[Browser]:
    """Debian's Chromium, headless, closed afterwards."""
    executable = chromium_path()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()
