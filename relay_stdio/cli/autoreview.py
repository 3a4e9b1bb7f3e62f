"""``relay codex-auto-review``: Codex reviews every packet a peer posts, one ``codex exec`` per batch."""

from __future__ import annotations

from pathlib import Path

import click

from relay_stdio.automation.autoreview import SANDBOXES, CodexReview, find_codex
from relay_stdio.automation.watching import Batch
from relay_stdio.cli.context import CliState, pass_state, user_errors
from relay_stdio.cli.watch import run_watcher, watch_options


@click.command("codex-auto-review")
@click.option(
    "--target", default="proj-x", show_default=True, metavar="CHANNEL", help="The channel to watch."
)
@click.option(
    "--from",
    "sender",
    default="claude",
    show_default=True,
    metavar="SENDER",
    help="Whose posts start a review.",
)
@click.option(
    "--session",
    "session_id",
    metavar="ID",
    help="Continue this Codex session (codex exec resume ID) instead of starting one per batch.",
)
@click.option(
    "--sandbox",
    type=click.Choice(SANDBOXES),
    default="read-only",
    show_default=True,
    help="Sandbox for the commands Codex runs; workspace-write lets the review run the tests.",
)
@click.option(
    "--bypass-sandbox",
    is_flag=True,
    help="Pass --dangerously-bypass-approvals-and-sandbox instead (only in a disposable VM or container).",
)
@click.option(
    "--cd",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="The folder a new Codex session works in (codex exec --cd; default: here).",
)
@click.option("--codex-bin", default="codex", show_default=True, metavar="PATH", help="The codex executable.")
@watch_options
@click.argument("codex_args", nargs=-1, metavar="[-- CODEX_EXEC_ARGS...]")
@pass_state
def codex_auto_review(
    state: CliState,
    target: str,
    sender: str,
    session_id: str | None,
    sandbox: str,
    bypass_sandbox: bool,
    cd: Path | None,
    codex_bin: str,
    once: bool,
    state_file: Path | None,
    timeout_s: float | None,
    since: int | None,
    codex_args: tuple[str, ...],
) -> None:
    """Run codex exec once for each batch of posts from SENDER on TARGET, never two at once.

    Codex is told to fetch the batch with the relay's tools, review it and post its review as a reply.
    This is relay watch with the review built in: it waits on the store, keeps its place across
    restarts, and saves the position only when codex exec succeeds, so a failed review runs again.
    """
    with user_errors():
        find_codex(codex_bin)
    review = CodexReview(codex_bin, session_id, sandbox, bypass_sandbox, str(cd) if cd else None, codex_args)
    data_dir = state.config.data_dir

    def run(batch: Batch) -> int:
        ids = ", ".join(f"#{i}" for i in batch.ids)
        click.echo(f"relay codex-auto-review: reviewing {ids} on {batch.target}", err=True)
        return review.run(batch, data_dir)

    run_watcher(
        state, target, sender, run, once=once, state_file=state_file, timeout_s=timeout_s, since=since
    )
