"""State shared by the ``relay`` subcommands: the configuration, resolved once, and the relay on it."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from shared.config import Config, resolve_config
from shared.errors import RelayError
from shared.relay import Relay
from shared.startup import prepare_store


class CliState:
    """Resolves the configuration on first use, so ``--help`` works even with a broken config."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        self._config: Config | None = None
        self._relay: Relay | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            with user_errors():
                self._config = resolve_config(self.options)
            for warning in self._config.warnings:
                click.echo(f"relay: warning: {warning}", err=True)
        return self._config

    @property
    def relay(self) -> Relay:
        if self._relay is None:
            with user_errors():
                relay = Relay(self.config)
                # At start-up, so an unwritable data dir is one clear error naming it, not a failed post.
                prepare_store(relay)
                self._relay = relay
        return self._relay

    def person(self, sender: str | None) -> str:
        """The sender of a post from a person: --sender, else the configured sender, else the login."""
        if sender:
            return sender
        if self.config.sender:
            return self.config.sender
        try:
            return getpass.getuser()
        except (OSError, KeyError):
            return "human"


@contextmanager
def user_errors() -> Iterator[None]:
    """Show the relay's own errors as one clean line (exit status 1) instead of a traceback."""
    try:
        yield
    except RelayError as exc:
        raise click.ClickException(str(exc)) from exc


pass_state = click.make_pass_decorator(CliState)
