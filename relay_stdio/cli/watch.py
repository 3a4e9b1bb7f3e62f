"""``relay watch``: run a command for each batch of new messages from one sender."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import NoReturn

import click

from relay_stdio.automation.watching import Batch, Watcher, WatchState, default_state_file, run_command
from relay_stdio.cli.context import CliState, pass_state, user_errors


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    # SystemExit unwinds normally: a running command is killed, the state lock released.
    sys.exit(128 + signum)


def watch_options(func: click.decorators.FC) -> click.decorators.FC:
    """--once, --state-file, --timeout and --since: how a watcher starts, runs and stops."""
    for option in reversed(
        (
            click.option(
                "--once", is_flag=True, help="Handle one batch, then exit with the command's status."
            ),
            click.option(
                "--state-file",
                type=click.Path(dir_okay=False, path_type=Path),
                metavar="PATH",
                help="Where the position is kept (default: <data_dir>/watch/TARGET--SENDER.json).",
            ),
            click.option(
                "--timeout",
                "timeout_s",
                type=click.FloatRange(min=0),
                metavar="SECONDS",
                help="Give up when no batch arrives within SECONDS (exit status 124).",
            ),
            click.option(
                "--since",
                type=click.IntRange(min=0),
                metavar="ID",
                help="On the first start only (no state file yet): begin after id ID. Default: the newest "
                "message.",
            ),
        )
    ):
        func = option(func)
    return func


def run_watcher(
    state: CliState,
    target: str,
    sender: str,
    run: Callable[[Batch], int],
    *,
    once: bool,
    state_file: Path | None,
    timeout_s: float | None,
    since: int | None,
) -> NoReturn:
    """Hand each batch from SENDER on TARGET to ``run`` until stopped; exit with the watcher's status."""
    relay = state.relay

    def report(line: str) -> None:
        click.echo(f"relay watch: {line}", err=True)

    with user_errors():
        path = state_file or default_state_file(state.config.data_dir, target, sender)
        watcher = Watcher(relay, target, sender, WatchState(path, target, sender), run, report)
        previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
        try:
            status = watcher.watch(once=once, timeout_s=timeout_s, since=since)
        except KeyboardInterrupt:
            status = 130
        finally:
            signal.signal(signal.SIGTERM, previous)
    # A command killed by signal N reports -N; shells report 128+N.
    sys.exit(128 - status if status < 0 else status)


@click.command()
@click.argument("target")
@click.option("--from", "sender", required=True, metavar="SENDER", help="Whose messages start a run.")
@click.option(
    "--exec",
    "command",
    required=True,
    metavar="CMD",
    help="Shell command run once per batch, with RELAY_TARGET, RELAY_SINCE_ID, RELAY_LATEST_ID, "
    "RELAY_SENDER, RELAY_IDS, RELAY_COUNT and RELAY_TRUST_NOTE set.",
)
@watch_options
@pass_state
def watch(
    state: CliState,
    target: str,
    sender: str,
    command: str,
    once: bool,
    state_file: Path | None,
    timeout_s: float | None,
    since: int | None,
) -> None:
    """Wait for messages from SENDER on TARGET and run CMD once for each batch, never two at once.

    The position is saved only after CMD succeeds, so a failed batch is retried with the next one (or
    on restart); messages that arrive while CMD runs form the next batch. It waits on the store
    without polling the messages themselves and keeps its place across restarts.
    """
    data_dir = state.config.data_dir
    run_watcher(
        state,
        target,
        sender,
        lambda batch: run_command(command, batch, data_dir),
        once=once,
        state_file=state_file,
        timeout_s=timeout_s,
        since=since,
    )
