"""``relay hook ...``: commands Claude Code runs as hooks (JSON on stdin, JSON answer on stdout)."""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Callable
from types import FrameType
from typing import Any, TypeVar

import click

from relay_stdio.automation.hooks import (
    DEFAULT_MAX_CHARS,
    DEFAULT_MAX_CONTINUATIONS,
    HookOptions,
    context_answer,
    parse_hook_input,
)
from relay_stdio.automation.hooks import stop_answer as compute_stop_answer
from relay_stdio.automation.rewake import DEFAULT_LIFETIME_S, rewake_text
from relay_stdio.cli.context import CliState, pass_state, user_errors
from shared.waiting import MAX_TIMEOUT_S

_F = TypeVar("_F", bound=Callable[..., Any])


class HookGroup(click.Group):
    """Reports a mistyped hook command with exit status 1, never 2.

    Claude Code treats exit status 2 from a Stop hook as "block, and show stderr to Claude", so click's
    usage-error status would feed the error text to the model as an instruction.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            raise click.ClickException(exc.format_message()) from exc


def _answer(answer: dict[str, Any] | None) -> None:
    # Nothing on stdout means "no opinion" to Claude Code; stdout carries only the JSON answer.
    if answer is not None:
        click.echo(json.dumps(answer, ensure_ascii=False))


def _options(identity: str) -> Callable[[_F], _F]:
    """The options every hook command takes; ``identity`` is the agent's default relay identity."""
    return lambda func: _with_options(func, identity)


def _with_options(func: Any, identity: str) -> Any:
    decorators = [
        click.option("--target", required=True, metavar="CHANNEL", help="The channel to read, e.g. proj-x."),
        click.option(
            "--from",
            "from_sender",
            metavar="SENDER",
            help="Only a message from SENDER counts (default: anyone but --identity).",
        ),
        click.option(
            "--identity",
            default=identity,
            show_default=True,
            metavar="NAME",
            help="Whose read position to use and whose posts to ignore: the agent's relay identity.",
        ),
        click.option(
            "--max-chars",
            type=click.IntRange(min=1000),
            default=DEFAULT_MAX_CHARS,
            show_default=True,
            help="Longest text handed over; longer messages are cut with a note on fetching them whole.",
        ),
        click.option(
            "--dry-run",
            is_flag=True,
            help="Print the answer the hook would give, but record nothing and move no read position "
            "(for trying a hook by hand).",
        ),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def _wait_option(help_text: str) -> Callable[[_F], _F]:
    return click.option(
        "--wait",
        "wait_s",
        type=click.FloatRange(0, MAX_TIMEOUT_S),
        default=0.0,
        show_default=True,
        metavar="SECONDS",
        help=help_text,
    )


@click.group(cls=HookGroup)
def hook() -> None:
    """Hook commands for Claude Code (settings.json) and Codex (hooks.json): docs/claude.md, docs/codex.md."""


def _stop_options(func: _F) -> _F:
    func = click.option(
        "--max-continuations",
        type=click.IntRange(min=0),
        default=DEFAULT_MAX_CONTINUATIONS,
        show_default=True,
        help="Continue a session at most this many times in a row.",
    )(func)
    func = click.option(
        "--wait-always", is_flag=True, help="Wait even when the agent's post is not the newest."
    )(func)
    return _wait_option(
        "If the agent's own post is the newest in the channel, wait up to SECONDS for the answer."
    )(func)


def _run_stop(state: CliState, client: str, wait_always: bool, max_continuations: int, common: Any) -> None:
    with user_errors():
        payload = parse_hook_input(sys.stdin.read())
        options = HookOptions(**common)  # the shared options are named as HookOptions' fields
        answer = compute_stop_answer(
            state.relay,
            payload,
            options,
            max_continuations=max_continuations,
            wait_always=wait_always,
            client=client,
        )
    _answer(answer)


def _run_context(state: CliState, common: Any) -> None:
    with user_errors():
        payload = parse_hook_input(sys.stdin.read())
        answer = context_answer(state.relay, payload, HookOptions(**common))
    _answer(answer)


@hook.command("claude-stop")
@_options("claude")
@_stop_options
@pass_state
def claude_stop(state: CliState, /, wait_always: bool, max_continuations: int, **common: Any) -> None:
    """Stop hook: if unread messages arrived, keep the session going with them as Claude's next task.

    Reads Claude Code's Stop hook JSON on stdin and prints {"decision": "block", "reason": ...} when
    there are new messages, or nothing to let Claude stop. What it hands over counts as read at the
    session's next Stop, once the continued turn has run.
    """
    _run_stop(state, "claude", wait_always, max_continuations, common)


@hook.command("claude-context")
@_options("claude")
@_wait_option("Wait up to SECONDS for a message when none is unread.")
@pass_state
def claude_context(state: CliState, /, **common: Any) -> None:
    """SessionStart / UserPromptSubmit hook: add unread messages to Claude's context.

    Prints {"hookSpecificOutput": {"hookEventName": ..., "additionalContext": ...}} when there are
    unread messages, or nothing. They count as read at the session's next Stop, once a turn has run.
    """
    _run_context(state, common)


@hook.command("codex-stop")
@_options("codex")
@_stop_options
@pass_state
def codex_stop(state: CliState, /, wait_always: bool, max_continuations: int, **common: Any) -> None:
    """Codex Stop hook: if unread messages arrived, continue the Codex turn with them.

    Codex's Stop hook takes the same answer as Claude Code's: {"decision": "block", "reason": ...} on
    stdout continues the turn with the reason as the next prompt. Codex has no cap of its own on
    repeated blocks, so --max-continuations is the brake (counted apart from Claude's).
    """
    _run_stop(state, "codex", wait_always, max_continuations, common)


@hook.command("codex-context")
@_options("codex")
@_wait_option("Wait up to SECONDS for a message when none is unread.")
@pass_state
def codex_context(state: CliState, /, **common: Any) -> None:
    """Codex SessionStart / UserPromptSubmit hook: add unread messages to the model's context."""
    _run_context(state, common)


def _exit_quietly(signum: int, frame: FrameType | None) -> None:
    # A newer waiter of the same session took over: leave without a word (status 0 wakes nobody).
    sys.exit(0)


@hook.command("claude-rewake")
@_options("claude")
@click.option(
    "--lifetime",
    "lifetime_s",
    type=click.FloatRange(min=0),
    default=DEFAULT_LIFETIME_S,
    show_default=True,
    metavar="SECONDS",
    help="Give up (exit 0, waking nobody) after SECONDS.",
)
@pass_state
def claude_rewake(state: CliState, /, lifetime_s: float, **common: Any) -> None:
    """asyncRewake hook: wait in the background for the next message and wake the idle session with it.

    Registered with "asyncRewake": true on SessionStart and Stop. When someone else posts, it prints
    the message on stderr and exits with status 2, which Claude Code shows to the model, waking the
    session. One waiter per session (a new one takes over), ending after --lifetime or as soon as
    Claude Code is gone.
    """
    signal.signal(signal.SIGTERM, _exit_quietly)
    with user_errors():
        payload = parse_hook_input(sys.stdin.read())
        text = rewake_text(state.relay, payload, HookOptions(**common), lifetime_s)
    if text is not None:
        click.echo(text, err=True)
        sys.exit(2)
