"""``relay check``: report damaged channel files and, with ``--repair``, fix them without deleting."""

from __future__ import annotations

import click

from relay_stdio.cli.context import CliState, pass_state, user_errors
from shared.storage import check_store


@click.command()
@click.argument("targets", nargs=-1, metavar="[TARGET]...")
@click.option(
    "--repair",
    is_flag=True,
    help="Move bad lines to <target>.jsonl.quarantine-<time> beside the channel and symlinks aside.",
)
@pass_state
def check(state: CliState, targets: tuple[str, ...], repair: bool) -> None:
    """Find damaged channel files (all, or each TARGET); --repair fixes them without deleting.

    Reports torn, malformed, oversize or non-UTF-8 lines, duplicate or decreasing ids, symlinked
    channels and stray files, one per line as FILE:LINE: KIND: DETAIL. Exit status 1 when problems are
    found; with --repair, when some could not be repaired. Safe while agents keep posting.
    """
    with user_errors():
        report = check_store(state.relay.store, targets, repair=repair)
    for problem in report.problems:
        click.echo(problem.describe())
    for action in report.actions:
        click.echo(action)
    click.echo(report.summary(repair))
    if report.unrepaired if repair else report.errors:
        raise SystemExit(1)
