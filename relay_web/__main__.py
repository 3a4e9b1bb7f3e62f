"""``relay-web``: the browser viewer and HTTP API, served by waitress on the configured host and port."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import click
from waitress.server import create_server

from relay_web.app import body_limit, create_app
from relay_web.hosts import is_loopback_bind
from relay_web.serving import raise_open_file_limit, server_options
from shared import __version__, clientsetup
from shared.cli_options import store_options
from shared.config import Config, resolve_config
from shared.errors import ConfigError, StoreError
from shared.startup import prepare_store

log = logging.getLogger("relay.web")

# Every request is short (live updates are short polls, not held connections), so a small pool
# serves many open pages; see docs/architecture.md.
THREADS = 8


def check_bind(config: Config, allow_unauthenticated: bool) -> None:
    """Refuse to listen beyond this machine without a token, unless the user explicitly accepts it."""
    if is_loopback_bind(config.host) or config.auth_token or allow_unauthenticated:
        return
    raise click.ClickException(
        f"refusing to listen on {config.host}: that address is reachable from other machines and no "
        "auth_token is set, so anyone on the network could read and post into your agents' channels. "
        "Set auth_token (CLAUDE_CODEX_AUTH_TOKEN), bind 127.0.0.1, or pass --allow-unauthenticated"
    )


def _url(host: str, port: int) -> str:
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}/"


def registration_help(config: Config) -> str:
    """How to point Claude Code and Codex at the store this viewer reads: ``relay setup``'s own text."""
    return clientsetup.registration_help(
        clientsetup.Installation.find(config), clientsetup.codex_config_path(os.environ, Path.home())
    )


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@store_options
@click.option("--host", metavar="ADDR", help="Address to listen on (default: 127.0.0.1).")
@click.option("--port", type=int, metavar="PORT", help="Port to listen on (default: 8010).")
@click.option(
    "--allow-unauthenticated",
    is_flag=True,
    help="Listen on a non-loopback address even without an auth_token (anyone reaching it can post).",
)
@click.version_option(__version__, prog_name="relay-web")
def main(
    config_path: Path | None,
    data_dir: Path | None,
    store: str | None,
    host: str | None,
    port: int | None,
    allow_unauthenticated: bool,
) -> None:
    """Serve the relay's web viewer and HTTP API on the configured host and port (Ctrl+C stops it)."""
    try:
        config = resolve_config(
            {
                "config": config_path,
                "data_dir": data_dir and str(data_dir),
                "store": store,
                "host": host,
                "port": port,
            }
        )
        check_bind(config, allow_unauthenticated)
        app = create_app(config)
        prepare_store(app.extensions["relay_web"].relay)
    except (ConfigError, StoreError) as exc:
        raise click.ClickException(str(exc)) from None
    for warning in config.warnings:
        click.echo(f"relay-web: warning: {warning}", err=True)
    if not is_loopback_bind(config.host) and not config.allowed_hosts:
        click.echo(
            "relay-web: warning: allowed_hosts is empty, so browsers reaching this relay by another name "
            "than localhost get 403; add that name to allowed_hosts",
            err=True,
        )
    options = server_options(raise_open_file_limit())
    try:
        server = create_server(
            app,
            host=config.host,
            port=config.port,
            threads=THREADS,
            max_request_body_size=body_limit(config.max_message_bytes),
            ident="relay-web",
            **options,
        )
    except OSError as exc:
        raise click.ClickException(
            f"cannot listen on {config.host}:{config.port}: {exc.strerror or exc} "
            "(is another relay-web running? choose another --port)"
        ) from None
    click.echo(registration_help(config))
    click.echo(f"Store: {app.extensions['relay_web'].relay.store.description}")
    click.echo(f"relay-web {__version__} serving on {_url(config.host, config.port)}  (Ctrl+C stops it)")
    log.info(
        "relay-web %s serving %s on %s:%s (at most %s connections; idle ones closed after %s s)",
        __version__,
        config.data_dir,
        config.host,
        config.port,
        options["connection_limit"],
        options["channel_timeout"],
    )
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


if __name__ == "__main__":
    main()
