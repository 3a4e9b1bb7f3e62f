"""Shared fixtures: every test gets its own data dir and a clean relay environment."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.config import Config, resolve_config
from shared.relay import Relay
from shared.storage.files.store import FileStore


@pytest.fixture(autouse=True)
def _isolated_env(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """No test reads the developer's real config, data dir or CLAUDE_CODEX_* variables."""
    import os

    for name in list(os.environ):
        if name.startswith("CLAUDE_CODEX_"):
            monkeypatch.delenv(name)
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.chdir(home)
    yield
    for name in ("relay", "relay.archive"):
        logger = logging.getLogger(name)
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
            handler.close()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def config(data_dir: Path) -> Config:
    return resolve_config({"data_dir": str(data_dir)}, env={})


@pytest.fixture
def store(data_dir: Path) -> FileStore:
    return FileStore(data_dir, lock_timeout_s=5.0)


@pytest.fixture
def relay(config: Config) -> Relay:
    return Relay(config)


# --- relay-web ------------------------------------------------------------------------------------


@pytest.fixture
def make_app(data_dir: Path):  # type: ignore[no-untyped-def]
    """Build a relay-web app on the test's data dir with extra config keys (allowed_hosts, auth_token...)."""
    from relay_web import create_app

    def build(**options: object):  # type: ignore[no-untyped-def]
        config = resolve_config({"data_dir": str(data_dir), **options}, env={})
        return create_app(config, {"TESTING": True})

    return build


@pytest.fixture
def app(make_app):  # type: ignore[no-untyped-def]
    return make_app()


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    return app.test_client()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    """Print what the reliability tests tried (see tests/reliability.py and docs/reliability.md)."""
    from tests import reliability

    reliability.report(terminalreporter, config)


# --- PostgreSQL ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_cluster():  # type: ignore[no-untyped-def]
    """A private PostgreSQL server for the whole run (tests/pg_cluster.py); skipped only outside CI."""
    import os

    from tests.pg_cluster import find_bindir, start_cluster

    bindir = find_bindir()
    if bindir is None:
        message = "PostgreSQL is not installed: sudo apt-get install postgresql (.ci/run installs it)"
        if os.environ.get("RELAY_REQUIRE_POSTGRES"):
            pytest.fail(message)
        pytest.skip(message)
    cluster = start_cluster(bindir)
    yield cluster
    cluster.destroy()


@pytest.fixture
def pg_url(pg_cluster) -> str:  # type: ignore[no-untyped-def]
    """The URL of a new, empty database on the test server."""
    return str(pg_cluster.url(pg_cluster.new_database()))
