"""``relay codex-auto-review``: Codex reviews every packet a peer posts, one ``codex exec`` per batch."""

from __future__ import annotations

from pathlib import Path

import click

from relay_stdio.automation.autoreview import SANDBOXES, CodexReview, RememberingReview, find_codex
from relay_stdio.automation.watching import Batch, WatchState, default_state_file
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
    help="Resume this Codex session (codex exec resume ID) for every batch. Default: the session the "
    "first batch started, kept with the watch state.",
)
@click.option(
    "--fresh",
    is_flag=True,
    help="Start a new Codex session for every batch instead of resuming one (Codex forgets earlier rounds).",
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
    fresh: bool,
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

    Every batch resumes the same Codex session (the first batch starts it; its id is kept with the
    watch state), so Codex remembers the earlier rounds of the review; --fresh starts one per batch.

    Codex is told to fetch the batch with the relay's tools, review it and post its review as a reply.
    This is relay watch with the review built in: it waits on the store, keeps its place across
    restarts, and saves the position only when codex exec succeeds, so a failed review runs again.
    """
    if fresh and session_id:
        raise click.UsageError("choose --session ID or --fresh, not both")
    with user_errors():
        find_codex(codex_bin)
    review = CodexReview(codex_bin, session_id, sandbox, bypass_sandbox, str(cd) if cd else None, codex_args)
    data_dir = state.config.data_dir
    path = state_file or default_state_file(data_dir, target, sender)
    runner = review if fresh or session_id else RememberingReview(review, WatchState(path, target, sender))

    def run(batch: Batch) -> int:
        ids = ", ".join(f"#{i}" for i in batch.ids)
        click.echo(f"relay codex-auto-review: reviewing {ids} on {batch.target}", err=True)
        return runner.run(batch, data_dir)

    run_watcher(state, target, sender, run, once=once, state_file=path, timeout_s=timeout_s, since=since)
