"""Finding and following messages: the search page and the thread page (the JSON is in api.py)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from relay_web.pages import channel_or_404, message_view, page_context
from relay_web.state import web

bp = Blueprint("browse", __name__)


@bp.get("/search")
def search() -> str:
    """Messages holding every word of ``q``, newest first, each linked to its place in its channel."""
    query = request.args.get("q", "").strip()
    target = request.args.get("target", "").strip()
    result: dict[str, Any] | None = None
    if query:
        result = web().relay.search(query, target=target or None)
    return render_template(
        "search.html",
        query=query,
        search_target=target,
        result=result,
        messages=[message_view(m) for m in result["messages"]] if result else [],
        **page_context(),
    )


@bp.get("/channels/<target>/threads/<int:message_id>")
def thread(target: str, message_id: int) -> str | BaseResponse:
    """A thread: its first message and every reply, oldest first, with a composer that replies in it."""
    name = channel_or_404(target)
    if name != target:
        return redirect(url_for("browse.thread", target=name, message_id=message_id), 308)
    found = web().relay.thread(name, message_id)
    messages = [message_view(m) for m in found["messages"]]
    return render_template(
        "thread.html",
        target=name,
        root_id=found["root_id"],
        messages=messages,
        latest_id=messages[-1]["id"],
        **page_context(),
    )
