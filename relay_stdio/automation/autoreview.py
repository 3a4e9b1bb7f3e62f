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

import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from relay_stdio.automation.watching import Batch
from shared.errors import ConfigError
from shared.trust import untrusted_framing
from shared.workflow import REPLY_SECTIONS, VERDICTS

SANDBOXES = ("read-only", "workspace-write", "danger-full-access")
APPROVE_RELAY_TOOLS = 'mcp_servers.relay.default_tools_approval_mode="approve"'


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
    """

    codex: str = "codex"
    session_id: str | None = None
    sandbox: str = "read-only"
    bypass: bool = False
    cd: str | None = None
    extra_args: Sequence[str] = ()

    def argv(self, batch: Batch) -> list[str]:
        """The ``codex exec`` command line for one batch."""
        opts = ["--skip-git-repo-check", "-c", APPROVE_RELAY_TOOLS]
        if self.bypass:
            opts.append("--dangerously-bypass-approvals-and-sandbox")
        else:
            opts += ["-c", f'sandbox_mode="{self.sandbox}"']
        if self.cd and not self.session_id:
            opts += ["--cd", self.cd]
        opts += self.extra_args
        if self.session_id:
            return [self.codex, "exec", "resume", *opts, self.session_id, review_prompt(batch)]
        return [self.codex, "exec", *opts, review_prompt(batch)]

    def run(self, batch: Batch, data_dir: Path) -> int:
        """Run ``codex exec`` for one batch and return its exit status.

        Its stdin is empty: ``codex exec`` appends piped stdin to the prompt and would wait for it. The
        batch's variables (RELAY_*, CLAUDE_CODEX_DATA_DIR) are in its environment, as for ``relay watch``.
        """
        env = {**os.environ, **batch.environment(data_dir)}
        try:
            done = subprocess.run(self.argv(batch), env=env, stdin=subprocess.DEVNULL, check=False)
        except OSError as exc:  # stops the loop; the position was not saved, so the batch is kept
            raise ConfigError(
                f"cannot run {self.codex}: {exc.strerror or exc}; {CODEX_MISSING_HINT}"
            ) from None
        return done.returncode


CODEX_MISSING_HINT = "install Codex (npm install -g @openai/codex) or name its executable with --codex-bin"


def find_codex(codex: str) -> str:
    """The codex executable's path, checked before the loop starts so a missing one is one clear error."""
    found = shutil.which(codex)
    if found is None:
        raise ConfigError(f"{codex} is not on PATH or not executable; {CODEX_MISSING_HINT}")
    return found
