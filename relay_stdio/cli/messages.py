"""``relay post``, ``tail``, ``channels`` and ``search``: a person's way into a conversation."""

from __future__ import annotations

import sys
from typing import Any

import click

from relay_stdio.cli.context import CliState, pass_state, user_errors
from shared.explain import unknown_channel
from shared.models import API_LIMIT_MAX, MAX_ID, decode_utf8, normalize_target
from shared.records import calendar_time, display_sender, for_terminal, json_text
from shared.search import SEARCH_DEFAULT_LIMIT, SEARCH_LIMIT_MAX
from shared.waiting import ChannelWatch, wait_sync


def _format(record: dict[str, Any], as_json: bool) -> str:
    if as_json:
        return json_text(record, ensure_ascii=False)
    sender = for_terminal(display_sender(record.get("sender")))
    text = for_terminal(str(record.get("text", "")))
    return f"#{record['id']} [{sender}] {_local_time(record.get('ts'))}\n{text}\n"


def _local_time(ts: object, missing: str = "unknown time") -> str:
    when = calendar_time(ts, local=True)
    return when.strftime("%Y-%m-%d %H:%M:%S") if when else missing


@click.command()
@click.argument("target")
@click.argument("text", required=False)
@click.option("--sender", metavar="NAME", help="Post as NAME (default: config 'sender', else your login).")
@click.option(
    "--reply-to", type=click.IntRange(1, MAX_ID), metavar="ID", help="Id of the message this answers."
)
@click.option(
    "--replace-invalid",
    is_flag=True,
    help="Replace bytes of stdin that are not UTF-8 with U+FFFD instead of refusing the message.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the stored record as JSON.")
@pass_state
def post(
    state: CliState,
    target: str,
    text: str | None,
    sender: str | None,
    reply_to: int | None,
    replace_invalid: bool,
    as_json: bool,
) -> None:
    """Post TEXT to channel TARGET; with TEXT '-' or omitted, read the message from stdin."""
    with user_errors():
        if text is None or text == "-":
            if text is None and sys.stdin.isatty():
                raise click.UsageError("give the message as TEXT, or pipe it in and use '-'")
            text = _read_stdin(replace_invalid)
        record = state.relay.post(target, text, state.person(sender), source="cli", reply_to=reply_to)
    if as_json:
        click.echo(json_text(record, ensure_ascii=False))
    else:
        click.echo(f"posted #{record['id']} to {record['target']} as {record['sender']}")


def _read_stdin(replace_invalid: bool) -> str:
    """The message piped in: UTF-8, else an error naming the first bad byte (unless told to replace)."""
    data = sys.stdin.buffer.read()
    if replace_invalid:
        return data.decode("utf-8", errors="replace")
    fix = "Convert it to UTF-8 (for example with iconv), or pass --replace-invalid to post it with U+FFFD"
    return decode_utf8(data, "the message on stdin", fix + " in place of each bad byte")


@click.command()
@click.argument("target")
@click.option(
    "--since",
    "since_id",
    type=click.IntRange(0, MAX_ID),
    metavar="ID",
    help="Show every message after id ID (default: only the last --limit messages).",
)
@click.option(
    "--limit",
    "-n",
    type=click.IntRange(1, API_LIMIT_MAX),
    default=20,
    show_default=True,
    help="How many of the latest messages to show when --since is not given.",
)
@click.option("--follow", "-f", is_flag=True, help="Keep running and print new messages as they arrive.")
@click.option("--json", "as_json", is_flag=True, help="Print each message as one JSON line (like the store).")
@pass_state
def tail(state: CliState, target: str, since_id: int | None, limit: int, follow: bool, as_json: bool) -> None:
    """Show the messages of channel TARGET, oldest first; --follow waits for new ones."""
    relay = state.relay
    with user_errors():
        _require_channel(state, target, follow)
        if since_id is None:
            batch = relay.recent(target, limit, API_LIMIT_MAX)
            last = batch[-1]["id"] if batch else relay.store.stats(target).latest_id
            has_more = False
        else:
            batch, has_more = relay.store.read_since(target, since_id, API_LIMIT_MAX)
            last = batch[-1]["id"] if batch else since_id
    try:
        while True:
            for record in batch:
                click.echo(_format(record, as_json))
            if not follow and not has_more:
                return
            with user_errors():
                if not batch:  # sleep until the channel changes (inotify where there is one)
                    wait_sync(ChannelWatch(relay.store, target, last, lambda record: True), timeout_s=None)
                batch, has_more = relay.store.read_since(target, last, API_LIMIT_MAX)
            if batch:
                last = batch[-1]["id"]
    except KeyboardInterrupt:
        return


def _require_channel(state: CliState, target: str, follow: bool) -> None:
    """Refuse a channel that does not exist (a typo prints nothing otherwise); --follow may wait for it."""
    name = normalize_target(target)
    if state.relay.store.stats(name).latest_id or name in state.config.channels:
        return
    missing = unknown_channel(name, state.relay.channels()["channels"])
    if not follow:
        raise missing
    click.echo(f"relay: note: {missing}; waiting for its first message", err=True)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON, as the API returns it.")
@pass_state
def channels(state: CliState, as_json: bool) -> None:
    """List channels with their message count, last sender and last activity."""
    with user_errors():
        listing = state.relay.channels()
    if as_json:
        click.echo(json_text(listing, ensure_ascii=False, indent=2))
        return
    click.echo(f"{'CHANNEL':<24} {'COUNT':>7}  {'LAST SENDER':<16} LAST ACTIVITY")
    for row in listing["details"]:
        when = _local_time(row["last_ts"]) if row["last_ts"] is not None else "-"
        sender = for_terminal(row["last_sender"] or "-")
        click.echo(f"{row['target']:<24} {row['count']:>7}  {sender:<16} {when}")


@click.command()
@click.argument("query")
@click.option("--target", "-t", metavar="CHANNEL", help="Search only this channel (default: every channel).")
@click.option(
    "--limit",
    "-n",
    type=click.IntRange(1, SEARCH_LIMIT_MAX),
    default=SEARCH_DEFAULT_LIMIT,
    show_default=True,
    help="Most messages to show.",
)
@click.option("--json", "as_json", is_flag=True, help="Print each message as one JSON line (like the store).")
@pass_state
def search(state: CliState, query: str, target: str | None, limit: int, as_json: bool) -> None:
    """Find messages whose text or sender holds every word of QUERY, newest first."""
    with user_errors():
        result = state.relay.search(query, target=target, limit=limit)
    for record in result["messages"]:
        if as_json:
            click.echo(_format(record, True))
        else:
            click.echo(f"{record['target']} {_format(record, False)}")
    if not result["complete"]:
        click.echo("relay: the search ran out of time; older messages were not searched", err=True)
    if not result["messages"] and not as_json:
        where = f"channel {result['target']}" if result["target"] else "any channel"
        click.echo(f"no message in {where} holds every word of {query!r}", err=True)
