"""``relay config``: the resolved configuration and where each value came from."""

from __future__ import annotations

import json
from pathlib import Path

import click

from relay_stdio.cli.context import CliState, pass_state
from shared.config import ignored_local_config_note


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print {key: {value, source}} as JSON.")
@pass_state
def config(state: CliState, as_json: bool) -> None:
    """Show the resolved configuration and the source of each value (option, env, file or default).

    Run it in each agent's environment to check that they all use the same data_dir.
    """
    resolved = state.config
    note = ignored_local_config_note(resolved, Path.cwd())
    if note:
        click.echo(f"relay: note: {note}", err=True)
    rows = resolved.describe()
    if as_json:
        data = {key: {"value": value, "source": source} for key, value, source in rows}
        data["config_file"] = {"value": str(resolved.config_file or ""), "source": "lookup"}
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(f"config file: {resolved.config_file or '(none found)'}")
    width = max(len(key) for key, _, _ in rows)
    for key, value, source in rows:
        click.echo(f"{key:<{width}}  {value}  [{source}]")
