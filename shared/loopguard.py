"""The loop guard: two agents that answer each other forever stop being woken until a person writes.

Every wake path (channel pushes, the Stop and rewake hooks, ``relay watch`` and the auto-review loop)
asks :meth:`LoopGuard.allows` before it hands a message to an agent. The rule, per channel: when the
last ``limit`` messages (config ``loop_guard``, default 12; 0 turns the guard off) all came from agents,
with no message from a person among them, the channel is *paused*: nothing in it wakes an agent. A
message from a person ends the run, so the next message wakes agents again. Nothing is deleted or
hidden: a paused channel still reads, fetches and waits normally, and the viewer says it is paused.

Who counts as a person is decided by how the relay stored the message (its ``source``, see
shared/trust.py), not by the sender name, which anyone can choose: a post from the viewer's composer
(``web-ui``) or from a terminal with ``relay post`` (``cli``) is a person's. Posts through the MCP tools
(``mcp``), the HTTP API (``api``, scripts) or written into the file by hand are an agent's. The reasoning
is in docs/automation.md ("The loop guard").
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.models import Message
from shared.storage import MessageStore as Store

DEFAULT_LOOP_GUARD = 12
PERSON_SOURCES = ("web-ui", "cli")


def is_person(record: Message) -> bool:
    """Whether a message was written by a person: posted from the viewer or with ``relay post``."""
    return record.get("source") in PERSON_SOURCES


def agent_run(store: Store, target: str, upto_id: int, enough: int) -> int:
    """How many messages in a row, ending with ``upto_id``, came from agents (counting stops at ``enough``).

    Reads back from ``upto_id`` a page at a time and stops at the first person's message, so a channel
    with a recent person's message costs one small read.
    """
    run = 0
    before = upto_id + 1
    while run < enough:
        page, _ = store.read_before(target, before, enough - run)
        if not page:
            return run
        for record in reversed(page):
            if is_person(record):
                return run
            run += 1
        before = page[0]["id"]
    return run


@dataclass(frozen=True)
class LoopGuard:
    """The per-channel rule; ``limit`` 0 turns it off.

    Attributes:
        limit: consecutive agent messages after which the channel pauses.
    """

    limit: int = DEFAULT_LOOP_GUARD

    def allows(self, store: Store, target: str, record: Message) -> bool:
        """Whether ``record`` may wake an agent: a person's message always does; an agent's only while
        fewer than ``limit`` agent messages in a row end with it."""
        if self.limit <= 0 or is_person(record):
            return True
        return agent_run(store, target, int(record["id"]), self.limit) < self.limit

    def status(self, store: Store, target: str) -> dict[str, int | bool]:
        """``{"paused", "run", "limit"}`` for a channel as it is now (the viewer's banner and the API)."""
        latest = store.stats(target).latest_id
        run = agent_run(store, target, latest, self.limit) if self.limit > 0 and latest else 0
        return {"paused": self.limit > 0 and run >= self.limit, "run": run, "limit": self.limit}

    def note(self, target: str) -> str:
        """What a wake path says (on stderr, in the log) when it holds a message back."""
        return (
            f"relay loop guard: {self.limit} messages in a row between agents on {target} with no message "
            f"from a person; agents are not woken until a person writes there (the viewer or relay post)"
        )
