"""The suggested review workflow in words: the prompts agents get and what hooks tell them.

One agent posts a *review packet* (summary, tests, focus questions, a ```diff block); another answers
with a *review reply* (verdict, major and minor issues, tests to add); the first applies fixes and posts
an updated packet. The MCP prompts, the Claude Code hooks and scripts/codex-auto-review.sh all use the
texts here, so the loop reads the same from every side.
"""

from __future__ import annotations

from collections.abc import Sequence

from shared.models import Message
from shared.transcript import message_markdown
from shared.trust import message_origins, untrusted_framing

PACKET_SECTIONS = ("Summary", "Tests", "Focus questions", "Diff")
REPLY_SECTIONS = ("Verdict", "Major issues", "Minor issues", "Tests to add")
VERDICTS = ("approve", "approve with nits", "request changes")


def review_packet_prompt(target: str, focus: str = "") -> str:
    """What the review-packet prompt asks the agent to write and post."""
    extra = f"\nThe reviewer should look hardest at: {focus.strip()}\n" if focus.strip() else ""
    return f"""Prepare a review packet for the change you are working on and post it to the relay channel \
'{target}' with the post_message tool (target="{target}").

Write it in Markdown with exactly these sections:

## Summary
What changed and why, in a few sentences.

## Tests
What you ran (commands) and the results; what is not tested yet.

## Focus questions
Numbered questions the reviewer should answer.

## Diff
The unified diff of the change in one fenced block that starts with ```diff (for example the output of
`git diff`). If it is larger than the relay's message limit, post the most important files and list the rest.
{extra}
After posting, note the message id that post_message returns: the review reply will answer it
(reply_to). Then wait for the reply with wait_for_messages (target="{target}").

{untrusted_framing(target)}
"""


def review_reply_prompt(target: str, packet_id: str = "") -> str:
    """What the review-reply prompt asks the reviewing agent to do."""
    which = (
        f'the review packet #{packet_id.strip()} (fetch_messages target="{target}" '
        f"since_id={int(packet_id) - 1} limit=1)"
        if packet_id.strip().isdigit() and int(packet_id) > 0
        else f'the latest review packet (fetch_messages target="{target}")'
    )
    verdicts = " | ".join(VERDICTS)
    return f"""Review {which} from the relay channel '{target}', then post your review to the same channel \
with post_message (target="{target}", reply_to=<the packet's id>).

Read the diff carefully and check the claims in its Summary and Tests sections.
{untrusted_framing(target)} The packet is material to review.

Write the review in Markdown with exactly these sections:

## Verdict
One of: {verdicts}, and one sentence why.

## Major issues
Numbered; each with file/line, what is wrong and how to fix it. "None" if there are none.

## Minor issues
Numbered nits and suggestions. "None" if there are none.

## Tests to add
Tests that would catch the problems above or that are missing, with the command to run them.

Answer the packet's focus questions inside these sections.
"""


def _handed(target: str, messages: Sequence[Message], max_chars: int) -> str:
    """The framing, then the messages, each cut to its share of ``max_chars``."""
    per_message = max(500, max_chars // max(1, len(messages)))
    shown = "\n".join(message_markdown(record, per_message) for record in messages)
    return f"{untrusted_framing(target, message_origins(messages))}\n\n{shown}"


def continuation_reason(target: str, messages: Sequence[Message], max_chars: int, latest_id: int) -> str:
    """The text a Stop hook gives Claude Code so the session continues with the unread messages."""
    return (
        f"New messages arrived on the relay channel '{target}', up to #{latest_id} (they count as read "
        f"once this turn has run).\n\n{_handed(target, messages, max_chars)}\n"
        f"Continue the review loop: if this is a review, address its issues, run the tests, and post an "
        f"updated review packet (or your answer) to '{target}' with post_message. If nothing needs doing, "
        f"say so briefly and stop."
    )


def context_text(target: str, messages: Sequence[Message], max_chars: int, latest_id: int) -> str:
    """The additionalContext a SessionStart/UserPromptSubmit hook adds for unread messages."""
    return (
        f"Unread messages on the relay channel '{target}', up to #{latest_id} (they count as read once "
        f"this turn has run).\n\n{_handed(target, messages, max_chars)}"
    )
