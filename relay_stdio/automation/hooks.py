"""Claude Code hook answers: continue a session with unread relay messages, or add them as context.

The formats are Claude Code's documented hook contract (https://code.claude.com/docs/en/hooks; the
field names are checked in tests/test_hooks.py and quoted in docs/claude.md):

* Stop: the input JSON has ``session_id``, ``hook_event_name`` ("Stop") and ``stop_hook_active``
  (true when Claude is already continuing because a stop hook blocked). Printing
  ``{"decision": "block", "reason": "..."}`` on stdout with exit status 0 keeps Claude working, with
  ``reason`` as its next instruction. Printing nothing lets it stop.
* SessionStart and UserPromptSubmit: printing
  ``{"hookSpecificOutput": {"hookEventName": <event>, "additionalContext": "..."}}`` adds the text to
  Claude's context.

Loop safety: a Stop hook that always finds something would keep a session running forever, so this
one continues only when there is a new message (each Stop reads past what the session was handed),
at most ``max_continuations`` times in a row per session (counted from the last stop Claude Code
reports with ``stop_hook_active`` false), and Claude Code itself overrides a Stop hook after 8
consecutive blocks. Reads use the same identity and saved position as the agent's own fetch_messages.

Nothing is lost to a turn that never ran: the read position moves past what a hook handed a session
only at that session's next Stop, the evidence that a turn ran with it (``handouts.py``). A dry run
(``dry_run``, the hand test in docs/claude.md) answers the same but records and moves nothing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from relay_stdio.automation.handouts import Handouts
from shared.errors import InvalidInput
from shared.fsutil import write_atomically
from shared.loopguard import LoopGuard
from shared.models import normalize_sender, normalize_target
from shared.relay import Relay
from shared.waiting import ChannelWatch, message_filter, wait_for_messages_sync
from shared.workflow import context_text, continuation_reason

CONTEXT_EVENTS = ("SessionStart", "UserPromptSubmit")
DEFAULT_MAX_CONTINUATIONS = 3
DEFAULT_MAX_CHARS = 20_000


def parse_hook_input(raw: str) -> dict[str, Any]:
    """The JSON object Claude Code writes on a hook's stdin; anything else is an error naming the problem."""
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise InvalidInput(
            f"the hook input on stdin is not JSON ({exc}); Claude Code sends a JSON object"
        ) from None
    if not isinstance(data, dict):
        raise InvalidInput("the hook input on stdin must be a JSON object, as Claude Code sends")
    return data


@dataclass(frozen=True)
class HookOptions:
    """What a hook reads: the channel, whose read position, and whose messages count."""

    target: str
    identity: str
    from_sender: str | None = None
    wait_s: float = 0.0
    max_chars: int = DEFAULT_MAX_CHARS
    dry_run: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "target", normalize_target(self.target))
        object.__setattr__(self, "identity", normalize_sender(self.identity))
        if self.from_sender:
            object.__setattr__(self, "from_sender", normalize_sender(self.from_sender))


class ContinuationCounter:
    """How many times in a row the Stop hook has continued one session, in ``<data_dir>/hooks``.

    ``client`` ("claude" or "codex") keeps each client's count apart: Codex has no cap of its own on
    repeated Stop blocks (a hook that always blocks drove 858 model requests in 150 s), so this count
    is the only brake there.
    """

    def __init__(self, data_dir: Path, session_id: object, client: str = "claude") -> None:
        key = hashlib.sha256(str(session_id or "unknown").encode("utf-8")).hexdigest()[:24]
        self.path = Path(data_dir) / "hooks" / f"{client}-stop-{key}.json"

    def get(self) -> int:
        try:
            value = json.loads(self.path.read_text(encoding="utf-8")).get("continuations", 0)
        except (OSError, ValueError, AttributeError):
            return 0
        return value if isinstance(value, int) and value >= 0 else 0

    def set(self, value: int) -> None:
        data = json.dumps({"continuations": value}).encode("utf-8")
        write_atomically(self.path, data, what="the Stop hook's count of continuations")


def _start(relay: Relay, payload: dict[str, Any], options: HookOptions, event: str) -> tuple[Handouts, int]:
    """This session's handout record and where this hook reads from.

    A Stop is the evidence that the session's last turn ran, so it moves the read position past what
    the session was handed before. Any hook reads past both the position and the session's pending
    handout: what this session was handed is in its context already.
    """
    handouts = Handouts(relay.config.data_dir, payload.get("session_id"), options.identity, options.target)
    pending = handouts.pending() or 0
    if pending > relay.store.stats(options.target).latest_id:
        pending = 0  # the channel was emptied or replaced since: the record no longer means anything
    if event == "Stop" and pending and not options.dry_run:
        relay.save_position(options.identity, options.target, pending)
        handouts.clear()
    return handouts, max(relay.read_position(options.identity, options.target), pending)


def _hand_out(
    relay: Relay, handouts: Handouts, start: int, options: HookOptions, event: str, wait_s: float
) -> dict[str, Any]:
    """The unread messages after ``start`` (waiting up to ``wait_s``), recorded as handed to the session."""
    result = wait_for_messages_sync(
        relay,
        options.target,
        identity=options.identity,
        since_id=start,  # an explicit start: the saved position moves only at the session's next Stop
        timeout_s=wait_s,
        from_sender=options.from_sender,
    )
    if result["messages"] and event == "Stop" and not _guard_allows(relay, options.target, result):
        return {**result, "messages": [], "held": True}
    if result["messages"] and not options.dry_run:
        handouts.record(result["latest_id"], event)
    return result


def _guard_allows(relay: Relay, target: str, result: dict[str, Any]) -> bool:
    """The loop guard's word on waking the session with ``result``'s newest message."""
    return LoopGuard(relay.config.loop_guard).allows(relay.store, target, result["messages"][-1])


def _has_unread(relay: Relay, start: int, options: HookOptions) -> bool:
    """Peek without moving the read position."""
    accept = message_filter(options.identity, options.from_sender)
    return ChannelWatch(relay.store, options.target, start, accept).find() is not None


def _awaiting_reply(relay: Relay, options: HookOptions) -> bool:
    """Whether the newest message in the channel is this identity's own: it asked and nobody answered."""
    last = relay.store.stats(options.target).last_sender
    return last is not None and last.strip().casefold() == options.identity.casefold()


def stop_answer(
    relay: Relay,
    payload: dict[str, Any],
    options: HookOptions,
    *,
    max_continuations: int = DEFAULT_MAX_CONTINUATIONS,
    wait_always: bool = False,
    client: str = "claude",
) -> dict[str, Any] | None:
    """The Stop hook's answer: a block decision with the unread messages, or None to let the agent stop.

    Claude Code and Codex share the format (Codex's stop.command.output schema is Claude's), so one
    answer serves both; ``client`` only keeps their continuation counts apart. Waits up to
    ``options.wait_s`` for an answer, but only when this identity's post is the newest in the channel
    (it is waiting for a reply) or ``wait_always`` is set.
    """
    handouts, start = _start(relay, payload, options, "Stop")
    counter = ContinuationCounter(relay.config.data_dir, payload.get("session_id"), client)
    continued = counter.get() if payload.get("stop_hook_active") is True else 0
    if continued >= max_continuations:
        if _has_unread(relay, start, options):
            return {
                "systemMessage": f"relay: not continuing automatically after {continued} rounds in a row; "
                f"unread messages remain on {options.target} (ask the agent to fetch them)"
            }
        return None
    wait_s = options.wait_s if wait_always or _awaiting_reply(relay, options) else 0.0
    result = _hand_out(relay, handouts, start, options, "Stop", wait_s)
    if not options.dry_run:
        counter.set(continued + 1 if result["messages"] else continued)
    if result.get("held"):
        return {"systemMessage": LoopGuard(relay.config.loop_guard).note(options.target)}
    if not result["messages"]:
        return None
    reason = continuation_reason(options.target, result["messages"], options.max_chars, result["latest_id"])
    return {"decision": "block", "reason": reason}


def context_answer(relay: Relay, payload: dict[str, Any], options: HookOptions) -> dict[str, Any] | None:
    """The SessionStart/UserPromptSubmit answer: unread messages as additionalContext, or None."""
    event = payload.get("hook_event_name")
    if event not in CONTEXT_EVENTS:
        raise InvalidInput(
            f"hook_event_name is {event!r}; relay hook claude-context answers only "
            f"{' and '.join(CONTEXT_EVENTS)}: register it under one of those events"
        )
    handouts, start = _start(relay, payload, options, str(event))
    result = _hand_out(relay, handouts, start, options, str(event), options.wait_s)
    if not result["messages"]:
        return None
    text = context_text(options.target, result["messages"], options.max_chars, result["latest_id"])
    return {"hookSpecificOutput": {"hookEventName": event, "additionalContext": text}}
