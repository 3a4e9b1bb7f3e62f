"""``relay doctor``: check each agent's registration end to end; one line per check, non-zero on a problem."""

from __future__ import annotations

import os
from pathlib import Path

import click

from relay_stdio.cli.context import CliState, pass_state
from relay_stdio.setup.doctor import run_doctor


@click.command()
@click.option(
    "--project-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    help="The project whose Claude Code settings to check (default: here).",
)
@pass_state
def doctor(state: CliState, project_dir: Path) -> None:
    """Start each registered relay server as its client would and check the agents can meet.

    Exit status 1 when any check fails; each failed line ends with its fix.
    """
    checks = run_doctor(state.config, os.environ, Path.home(), project_dir.resolve())
    for check in checks:
        click.echo(check.line())
    problems = sum(check.ok is False for check in checks)
    if problems:
        click.echo(f"{problems} problem(s) found", err=True)
        raise SystemExit(1)
    click.echo("no problems found")
