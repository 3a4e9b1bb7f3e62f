"""``relay store``: manage where messages live (``migrate`` a PostgreSQL schema, ``copy`` between stores)."""

from __future__ import annotations

import sys

import click

from relay_stdio.cli.context import CliState, pass_state, user_errors
from shared.storage import is_database_url, open_store
from shared.storage.copy import copy_store


@click.group()
def store() -> None:
    """Manage the store: create or upgrade a PostgreSQL schema, copy history between stores."""


@store.command()
@pass_state
def migrate(state: CliState) -> None:
    """Create or upgrade the relay's tables in the configured PostgreSQL store.

    Run it once with a role that may create tables (the database owner) when the agents' own role may
    not; the grants that role then needs are in docs/teams.md.
    """
    config = state.config
    if not config.store or not is_database_url(config.store):
        raise click.ClickException(
            "relay store migrate works on a PostgreSQL store: pass --store postgresql://... "
            "(the file store needs no migration)"
        )
    with user_errors():
        target = open_store(config.store, lock_timeout_s=config.lock_timeout_s)
        try:
            before, after = target.migrate()  # type: ignore[attr-defined]
        finally:
            target.close()
    shown = "none" if before is None else before
    click.echo(f"schema of {target.description}: version {shown} -> {after}")


@store.command()
@click.argument("src", metavar="SRC")
@click.argument("dst", metavar="DST")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@pass_state
def copy(state: CliState, src: str, dst: str, quiet: bool) -> None:
    """Copy every channel and read position from SRC to DST (each a data folder or a postgresql:// URL).

    Ids, times, senders, sources and reply_to are kept. Safe to run again: messages the destination
    already holds are skipped, so an interrupted copy is finished by running it once more.
    """
    config = state.config
    with user_errors():
        source = open_store(src, max_message_bytes=config.max_message_bytes)
        dest = open_store(dst, max_message_bytes=config.max_message_bytes)
        try:
            dest.ensure_ready()
            bar_state: dict[str, int] = {}

            def progress(target: str, done: int, total: int) -> None:
                if quiet or not sys.stderr.isatty():
                    return
                shown = bar_state.get(target, 0)
                bar_state[target] = done
                click.echo(f"\r{target}: {done}/{total} ({100 * done // max(total, 1)}%)", nl=False, err=True)
                if done >= total and shown < total:
                    click.echo("", err=True)

            report = copy_store(source, dest, progress)
        finally:
            source.close()
            dest.close()
    for target in sorted(report.written):
        click.echo(f"{target}: {report.written[target]} copied, {report.skipped[target]} already there")
    click.echo(
        f"copied {report.total_written} messages in {len(report.written)} channels and "
        f"{report.positions} read positions from {source.description} to {dest.description}"
    )
