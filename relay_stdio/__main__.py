"""``relay-stdio``: the MCP server an agent launches; it speaks MCP on stdin/stdout until stdin closes."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import anyio
import click

from relay_stdio.channels import ChannelPush, serve_stdio
from relay_stdio.server import build_server
from shared import __version__
from shared.cli_options import store_options
from shared.config import Config, resolve_config
from shared.errors import ConfigError, InvalidInput, StoreError
from shared.models import normalize_target
from shared.relay import Relay
from shared.startup import describe_store, prepare_store

log = logging.getLogger("relay.stdio")


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@store_options
@click.option(
    "--sender",
    metavar="NAME",
    help="This agent's identity for posts and read positions (default: from the client's name).",
)
@click.option(
    "--print-config",
    is_flag=True,
    help="Print the store and identity this command line resolves to, as JSON, and exit (no MCP).",
)
@click.option(
    "--channel",
    "channels",
    multiple=True,
    metavar="NAME",
    help="Push new messages of channel NAME from the start (repeatable; adds to config 'subscribe').",
)
@click.option(
    "--push",
    is_flag=True,
    help="Send Claude Code channel notifications to any client, not only to Claude Code.",
)
@click.version_option(__version__, prog_name="relay-stdio")
def main(
    config_path: Path | None,
    data_dir: Path | None,
    store: str | None,
    sender: str | None,
    print_config: bool,
    channels: tuple[str, ...],
    push: bool,
) -> None:
    """Run the relay's MCP server over stdio (launched by an MCP client, not by hand).

    Register it with Claude Code: claude mcp add relay -- relay-stdio
    """
    try:
        options = {"config": config_path, "data_dir": data_dir, "store": store, "sender": sender}
        config = resolve_config(options)
        if print_config:  # like --version: the process speaks no MCP, so stdout is free for the answer
            click.echo(json.dumps(resolved_store(config)))
            return
        subscribe = tuple(dict.fromkeys((*config.subscribe, *(normalize_target(c) for c in channels))))
        relay = Relay(config)
        prepare_store(relay)
    except (ConfigError, StoreError, InvalidInput) as exc:
        # stdout is the MCP wire: errors go to stderr, where clients show them in their server logs.
        click.echo(f"relay-stdio: {exc}", err=True)
        sys.exit(2)
    for warning in config.warnings:
        log.warning(warning)
    log.info(
        "relay-stdio %s serving %s as %s",
        __version__,
        relay.store.description,
        config.sender or "(client name)",
    )
    server = build_server(relay, identity=config.sender)
    anyio.run(serve_stdio, server, ChannelPush(relay, config.sender, subscribe, push))


def resolved_store(config: Config) -> dict[str, str | None]:
    """What ``--print-config`` reports: the store, the data dir and the configured identity (None: the
    client's name decides). relay doctor runs the registered command with it to compare agents."""
    return {"store": describe_store(config), "data_dir": str(config.data_dir), "sender": config.sender}


if __name__ == "__main__":
    main()
