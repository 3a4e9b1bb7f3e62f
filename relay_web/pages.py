"""The viewer's pages (channel list, channel) and the JSON they poll for live updates and older messages."""

from __future__ import annotations

import json
import zlib
from typing import Any

from flask import Blueprint, Response, abort, get_template_attribute, redirect, render_template, url_for
from pygments.formatters import HtmlFormatter
from werkzeug.wrappers import Response as BaseResponse

from relay_web.api import int_arg
from relay_web.state import web
from shared.errors import InvalidInput
from shared.loopguard import LoopGuard
from shared.models import TARGET_RULE, Message, normalize_target
from shared.records import calendar_time, display_sender, reply_id
from shared.trust import source_of, source_title

bp = Blueprint("pages", __name__)

PAGE_SIZE = 50  # messages a channel page opens with, and loads per "load older"
UPDATE_BATCH = 200  # messages one live-update poll returns at most
SENDER_COLOURS = 8
EXCERPT_CHARS = 140


def channel_or_404(target: str) -> str:
    try:
        return normalize_target(target)
    except InvalidInput as exc:
        abort(404, description=f"no channel {target!r}: {exc}")


def message_view(record: Message) -> dict[str, Any]:
    """What the message template shows, tolerant of hand-edited records with odd field types."""
    text = record.get("text")
    sender = display_sender(record.get("sender"))
    when = calendar_time(record.get("ts"))
    return {
        "id": record["id"],
        "target": record.get("target") if isinstance(record.get("target"), str) else "",
        "sender": sender,
        # A stable colour per sender without inline styles (the CSP forbids them): one of 8 classes,
        # which the page's script moves to a free one when two senders on a page share it.
        "colour": (key := zlib.crc32(sender.encode("utf-8"))) % SENDER_COLOURS,
        "sender_key": f"{key:08x}",
        "ts": float(record["ts"]) if when else None,
        "iso": when.isoformat().replace("+00:00", "Z") if when else "",
        "utc": when.strftime("%Y-%m-%d %H:%M:%S UTC") if when else "unknown time",
        "source": source_of(record),  # how it arrived: the sender is only a label (shared/trust.py)
        "source_title": source_title(source_of(record)),
        "reply_to": reply_id(record.get("reply_to")),
        "html": web().renderer.render(text if isinstance(text, str) else json.dumps(text)),
    }


def _rendered(messages: list[Message]) -> list[dict[str, Any]]:
    """Messages as the page inserts them, with what a desktop notification and a thread page need."""
    macro = get_template_attribute("_message.html", "message")
    return [
        {
            "id": m["id"],
            "html": str(macro(message_view(m))),
            "reply_to": reply_id(m.get("reply_to")),
            "sender": display_sender(m.get("sender")),
            "excerpt": excerpt(m.get("text")),
        }
        for m in messages
    ]


def excerpt(text: object, length: int = EXCERPT_CHARS) -> str:
    """The start of a message's text on one line, for a desktop notification."""
    flat = " ".join(text.split()) if isinstance(text, str) else ""
    return flat if len(flat) <= length else flat[: length - 1] + "\u2026"


def viewer_order(details: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Channels with messages first (by name), then the empty seed channels: what is live leads."""
    return sorted(details, key=lambda d: (d["count"] == 0, d["target"]))


def page_context() -> dict[str, Any]:
    """What every page with a composer needs: the default sender, the channel names and their rule."""
    state = web()
    return {
        "default_sender": state.default_sender,
        "channel_names": state.relay.channels()["channels"],
        "target_rule": TARGET_RULE[0].upper() + TARGET_RULE[1:] + ".",
    }


@bp.get("/")
def index() -> str:
    """Every channel with its message count, last sender and last activity."""
    listing = web().relay.channels()
    return render_template("index.html", details=viewer_order(listing["details"]), **page_context())


@bp.get("/channels/<target>")
def channel(target: str) -> str | BaseResponse:
    """A conversation: the latest page of messages, oldest at the top, with live updates."""
    name = channel_or_404(target)
    if name != target:
        return redirect(url_for("pages.channel", target=name), 308)
    found, has_older = web().relay.latest(name, PAGE_SIZE, PAGE_SIZE)
    return render_template(
        "channel.html",
        target=name,
        messages=[message_view(m) for m in found],
        has_older=has_older,
        latest_id=found[-1]["id"] if found else 0,
        loop_guard=_loop_guard(name),
        **page_context(),
    )


def _loop_guard(name: str) -> dict[str, int | bool]:
    """The channel's loop-guard status for the "paused" banner (shared/loopguard.py)."""
    relay = web().relay
    return LoopGuard(relay.config.loop_guard).status(relay.store, name)


@bp.get("/ui/channels")
def channel_rows() -> dict[str, Any]:
    """The channel list as the index page polls it: in viewer order, empty seed channels last."""
    listing = web().relay.channels()
    return {"channels": listing["channels"], "details": viewer_order(listing["details"])}


@bp.get("/ui/channels/<target>/updates")
def updates(target: str) -> dict[str, Any]:
    """Rendered messages after ``since_id``, polled by an open channel page about once a second."""
    name = channel_or_404(target)
    since_id = int_arg("since_id", "a message id (a whole number >= 0)") or 0
    found, has_more = web().relay.after(name, since_id, UPDATE_BATCH, UPDATE_BATCH)
    latest = found[-1]["id"] if found else since_id
    return {
        "messages": _rendered(found),
        "latest_id": latest,
        "has_more": has_more,
        "loop_guard": _loop_guard(name),
    }


@bp.get("/ui/channels/<target>/older")
def older(target: str) -> dict[str, Any]:
    """Rendered messages before ``before_id``, for "load older"."""
    name = channel_or_404(target)
    before_id = int_arg("before_id", "a message id (a whole number >= 1)")
    if before_id is None:
        raise InvalidInput("before_id is required: the id of the oldest message the page shows")
    found, has_more = web().relay.before(name, before_id, PAGE_SIZE, PAGE_SIZE)
    return {"messages": _rendered(found), "has_more": has_more}


def pygments_css() -> str:
    """Code colours for the light theme, the dark theme and "follow the system" (built once)."""
    light: str = HtmlFormatter(style="default").get_style_defs(".highlight")  # type: ignore[no-untyped-call]
    dark_rules: str = HtmlFormatter(style="monokai").get_style_defs(".highlight")  # type: ignore[no-untyped-call]
    dark = "\n".join(f":root[data-theme=dark] {line}" for line in dark_rules.splitlines() if line.strip())
    auto = "\n".join(
        f"  :root:not([data-theme=light]) {line}" for line in dark_rules.splitlines() if line.strip()
    )
    return f"{light}\n{dark}\n@media (prefers-color-scheme: dark) {{\n{auto}\n}}\n"


@bp.get("/assets/pygments.css")
def code_styles() -> Response:
    """The Pygments stylesheet, served by the app itself (no CDN)."""
    response = Response(web().code_css, mimetype="text/css")
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response
