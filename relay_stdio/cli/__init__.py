"""``relay``: the relay's command line for people and scripts (post, tail, channels, search, config)."""

from __future__ import annotations

from pathlib import Path

import click

from relay_stdio.cli.check import check
from relay_stdio.cli.context import CliState
from relay_stdio.cli.messages import channels, post, search, tail
from relay_stdio.cli.settings import config
from shared import __version__
from shared.cli_options import store_options


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@store_options
@click.option(
    "--sender", metavar="NAME", help="Your name on posts (default: config 'sender', else your login)."
)
@click.version_option(__version__, prog_name="relay")
@click.pass_context
def main(
    ctx: click.Context, config_path: Path | None, data_dir: Path | None, store: str | None, sender: str | None
) -> None:
    """Read and write the relay's channels from a terminal: the same store the agents use."""
    ctx.obj = CliState({"config": config_path, "data_dir": data_dir, "store": store, "sender": sender})


for command in (post, tail, channels, search, config):
    main.add_command(command)

# Automation: relay watch, relay hook and relay setup (docs/automation.md, docs/claude.md, docs/codex.md).
from relay_stdio.cli.autoreview import codex_auto_review  # noqa: E402
from relay_stdio.cli.hooks import hook  # noqa: E402
from relay_stdio.cli.setup_cmd import setup  # noqa: E402
from relay_stdio.cli.watch import watch  # noqa: E402

for command in (watch, hook, setup, codex_auto_review):
    main.add_command(command)

main.add_command(check)

from relay_stdio.cli.doctor import doctor  # noqa: E402

main.add_command(doctor)

from relay_stdio.cli.store_cmd import store  # noqa: E402

main.add_command(store)
