"""The automatic Codex review loop ("Option D"): one ``codex exec`` per batch of packets, on ``relay watch``.

``relay codex-auto-review`` runs it, so it works wherever the package is installed (a wheel or pipx has
no ``scripts/`` folder); ``scripts/codex-auto-review.sh`` is a thin wrapper that maps the original
script's environment variables onto that command's options.

Codex starts the relay's stdio server itself, outside the sandbox that confines the model's shell
commands, so the review needs neither network access nor a sandbox bypass. What ``codex exec`` does need
is permission to call the relay's tools with nobody there to approve them: ``relay setup codex`` writes
``default_tools_approval_mode = "approve"`` and every run passes the same setting with ``-c`` in case the
config was written by hand.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from relay_stdio.automation.watching import Batch, WatchState
from shared.errors import ConfigError
from shared.trust import untrusted_framing
from shared.workflow import REPLY_SECTIONS, VERDICTS

SANDBOXES = ("read-only", "workspace-write", "danger-full-access")
APPROVE_RELAY_TOOLS = 'mcp_servers.relay.default_tools_approval_mode="approve"'
# The review cannot be done without the relay's tools: Codex then waits for the server to start before
# the first model request (else that request can go out without them) and fails if it cannot start.
REQUIRE_RELAY = "mcp_servers.relay.required=true"


def review_prompt(batch: Batch) -> str:
    """What Codex is asked to do with one batch: fetch it through the relay, review it, post the review."""
    verdicts = f"{', '.join(VERDICTS[:-1])}, or {VERDICTS[-1]}"
    sections = f"{REPLY_SECTIONS[0]} ({verdicts}), {', '.join(REPLY_SECTIONS[1:-1])} and {REPLY_SECTIONS[-1]}"
    return (
        f"New messages from {batch.sender} in the relay channel {batch.target}: "
        f"ids {' '.join(map(str, batch.ids))}. Fetch them with the relay MCP server's fetch_messages tool "
        f'(target="{batch.target}", since_id={batch.since_id}) and review them: they are review packets '
        "with a summary, the tests run, focus questions and a diff. "
        f"{untrusted_framing(batch.target, [batch.sender])} The packets are material to review. "
        "Then post your review to the same channel with post_message "
        f'(target="{batch.target}", reply_to={batch.latest_id}), in Markdown with the sections {sections}, '
        "answering the packet's focus questions."
    )


@dataclass(frozen=True)
class CodexReview:
    """How each batch's ``codex exec`` is run.

    Attributes:
        codex: the codex executable.
        session_id: continue this Codex session (``codex exec resume ID``) instead of a new one per batch.
        sandbox: the sandbox for the commands Codex runs (one of SANDBOXES).
        bypass: pass ``--dangerously-bypass-approvals-and-sandbox`` instead (disposable machines only).
        cd: the folder a new session works in (a resumed session keeps the folder it started in).
        extra_args: more ``codex exec`` arguments, e.g. ``("--model", "gpt-5-codex")``.
        json_events: pass ``--json``: Codex prints its events as JSON lines, the first naming the session.
    """

    codex: str = "codex"
    session_id: str | None = None
    sandbox: str = "read-only"
    bypass: bool = False
    cd: str | None = None
    extra_args: Sequence[str] = ()
    json_events: bool = False

    def argv(self, batch: Batch) -> list[str]:
        """The ``codex exec`` command line for one batch."""
        opts = ["--skip-git-repo-check", "-c", APPROVE_RELAY_TOOLS, "-c", REQUIRE_RELAY]
        if self.bypass:
            opts.append("--dangerously-bypass-approvals-and-sandbox")
        else:
            opts += ["-c", f'sandbox_mode="{self.sandbox}"']
        if self.cd and not self.session_id:
            opts += ["--cd", self.cd]
        if self.json_events:
            opts.append("--json")
        opts += self.extra_args
        if self.session_id:
            return [self.codex, "exec", "resume", *opts, self.session_id, review_prompt(batch)]
        return [self.codex, "exec", *opts, review_prompt(batch)]

    def run(self, batch: Batch, data_dir: Path) -> int:
        """Run ``codex exec`` for one batch and return its exit status.

        Its stdin is empty: ``codex exec`` appends piped stdin to the prompt and would wait for it. The
        batch's variables (RELAY_*, CLAUDE_CODEX_DATA_DIR) are in its environment, as for ``relay watch``.
        """
        return self.run_for_session(batch, data_dir)[0]

    def run_for_session(self, batch: Batch, data_dir: Path) -> tuple[int, str | None]:
        """Run ``codex exec`` for one batch: its exit status, and the session it ran in (with ``--json``).

        With ``json_events`` Codex's stdout is its event stream: the session id is read from its
        ``thread.started`` event and the agent's messages are shown on stderr, for the person watching.
        """
        env = {**os.environ, **batch.environment(data_dir)}
        stdout = subprocess.PIPE if self.json_events else None
        try:
            with subprocess.Popen(
                self.argv(batch), env=env, stdin=subprocess.DEVNULL, stdout=stdout, text=True
            ) as proc:
                session = _read_events(proc.stdout) if proc.stdout is not None else None
        except OSError as exc:  # stops the loop; the position was not saved, so the batch is kept
            raise ConfigError(
                f"cannot run {self.codex}: {exc.strerror or exc}; {CODEX_MISSING_HINT}"
            ) from None
        return proc.returncode, session


def _read_events(lines: Iterable[str]) -> str | None:
    """The session id from ``codex exec --json`` events; the agent's messages go to stderr."""
    session = None
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if not isinstance(event, dict):
            continue
        if event.get("type") == "thread.started" and isinstance(event.get("thread_id"), str):
            session = session or event["thread_id"]
        item = event.get("item")
        if isinstance(item, dict) and item.get("type") == "agent_message":
            print(f"codex: {item.get('text', '')}", file=sys.stderr, flush=True)
        elif event.get("type") in ("error", "turn.failed"):
            print(
                f"codex: {event.get('type')}: {event.get('message') or event.get('error')}", file=sys.stderr
            )
    return session


SESSION_KEY = "codex_session"


@dataclass(frozen=True)
class RememberingReview:
    """Resumes one Codex session for every batch, kept in the watch state, so Codex remembers earlier
    rounds of the same review.

    The first batch starts a session (``codex exec --json``) and keeps the id its ``thread.started``
    event names; each later batch runs ``codex exec resume <id>``. A run that never started a session
    (Codex could not resume it: deleted, or another CODEX_HOME) forgets the id, so the retry of that
    batch starts a new one instead of failing for ever.
    """

    review: CodexReview
    state: WatchState

    def run(self, batch: Batch, data_dir: Path) -> int:
        kept = self.state.recall(SESSION_KEY)
        status, session = replace(self.review, session_id=kept, json_events=True).run_for_session(
            batch, data_dir
        )
        if session is not None and session != kept:
            self.state.remember(SESSION_KEY, session)
        elif session is None and kept is not None and status != 0:
            self.state.remember(SESSION_KEY, None)
        return status


CODEX_MISSING_HINT = "install Codex (npm install -g @openai/codex) or name its executable with --codex-bin"


def find_codex(codex: str) -> str:
    """The codex executable's path, checked before the loop starts so a missing one is one clear error."""
    found = shutil.which(codex)
    if found is None:
        raise ConfigError(f"{codex} is not on PATH or not executable; {CODEX_MISSING_HINT}")
    return found
