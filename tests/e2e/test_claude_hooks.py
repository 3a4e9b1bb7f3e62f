"""The relay's Claude Code hooks in the real Claude Code CLI, offline: ``relay setup claude --apply`` in a
temporary HOME, then ``claude -p`` against the stand-in Messages API (standin_models.py).

The Stop hook continues a turn with a message posted while it ran, and only a bounded number of times
when a peer never stops posting. With ``--rewake``, the asyncRewake hook wakes a session that sits idle
in ``claude -p --input-format stream-json`` when a message is posted, and is not left behind when
Claude Code goes.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from shared.trust import untrusted_framing
from tests.e2e.claude_code import (
    HANG_GUARD_S,
    StreamSession,
    claude_env,
    claude_print,
    end,
    run_relay,
    set_up_claude,
    wait_until,
)
from tests.e2e.standin_models import MessagesStandin, messages_text, text

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def post(env: dict[str, str], words: str, sender: str = "codex") -> int:
    done = run_relay(env, "post", "proj-x", words, "--sender", sender, "--json")
    assert done.returncode == 0, done.stderr
    return int(json.loads(done.stdout)["id"])


def framed(origin: str) -> str:
    """The untrusted-input framing as it appears inside a JSON request body."""
    return json.dumps(untrusted_framing("proj-x", [origin]))[1:-1]


def test_the_stop_hook_continues_the_turn_with_a_message_posted_while_it_ran(tmp_path: Path) -> None:
    posted: list[int] = []

    def model(number: int, body: dict[str, Any]) -> list[dict[str, Any]]:
        if number == 1:
            posted.append(post(env, "Review: parse_empty() needs a test"))
        return [text(f"turn part {number} done")]

    with MessagesStandin(model) as standin:
        env = claude_env(tmp_path, standin.base_url)
        set_up_claude(env)
        claude = claude_print(env, "Work on parse_empty() and watch proj-x.")
        out, err = claude.communicate(timeout=HANG_GUARD_S)
    assert claude.returncode == 0, err
    assert standin.errors == []
    assert len(standin.requests) == 2  # the turn, then one continuation; nothing new after it, so it stops
    assert "parse_empty() needs a test" not in messages_text(standin.requests[0])
    continued = messages_text({"messages": standin.requests[1]["messages"][-1:]})
    assert f"#{posted[0]} codex" in continued and "parse_empty() needs a test" in continued
    assert framed("codex via cli") in continued
    assert out.strip() == "turn part 2 done"


def test_a_peer_that_never_stops_posting_gets_a_bounded_number_of_continuations(tmp_path: Path) -> None:
    def model(number: int, body: dict[str, Any]) -> list[dict[str, Any]]:
        post(env, f"note {number} from the peer")
        return [text(f"answer {number}")]

    with MessagesStandin(model) as standin:
        env = claude_env(tmp_path, standin.base_url)
        set_up_claude(env)
        claude = claude_print(env, "Keep answering the peer.")
        _, err = claude.communicate(timeout=HANG_GUARD_S)
    assert claude.returncode == 0, err
    # The first turn, then at most 3 continuations (relay hook claude-stop --max-continuations 3),
    # well before Claude Code's own cap of 8 consecutive blocks.
    assert len(standin.requests) == 4
    for number in (2, 3, 4):
        assert f"note {number - 1} from the peer" in messages_text(standin.requests[number - 1])
    assert "note 4 from the peer" not in "".join(messages_text(body) for body in standin.requests)


def waiter(data: Path) -> int | None:
    """The live process the session's rewake pid file names (one session here), if any."""
    for path in (data / "hooks").glob("claude-rewake-*.pid"):
        try:
            pid = int(path.read_text())
        except (OSError, ValueError):
            continue
        if Path(f"/proc/{pid}").exists():
            return pid
    return None


def waiting(pid: int) -> bool:
    """Whether a waiter sleeps on the store: its inotify watch is open, so it has read where to start."""
    try:
        fds = [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()]
    except OSError:
        return False
    return "anon_inode:inotify" in fds


def rewake_processes(data: Path) -> list[int]:
    """Every running ``relay hook claude-rewake`` on this data dir (found by its command line)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"claude-rewake" in argv and str(data).encode() in argv:
            found.append(int(proc.name))
    return found


def test_the_rewake_hook_wakes_an_idle_stream_json_session_on_a_post(tmp_path: Path) -> None:
    """A message posted while the session sits idle starts a turn with it; closing Claude Code leaves
    no waiter behind. (In a plain ``claude -p PROMPT`` run the hook would hold the run open instead.)"""
    data = tmp_path / "data"
    first_waiter: list[int] = []

    def model(number: int, body: dict[str, Any]) -> list[dict[str, Any]]:
        if number == 1:  # the waiter SessionStart started with the session
            first_waiter.append(wait_until(lambda: waiter(data), "the SessionStart waiter runs"))
        return [text(f"answer {number}")]

    with MessagesStandin(model) as standin:
        env = claude_env(tmp_path, standin.base_url)
        set_up_claude(env, "--rewake")
        session = StreamSession(env)
        try:
            session.say("Wait for the review on proj-x.")
            assert session.next_result()["result"] == "answer 1"
            # The turn's Stop started a waiter that took over; once it sleeps on the store, post.
            stop_waiter = wait_until(
                lambda: waiter(data) not in (None, *first_waiter) and waiter(data), "a Stop waiter"
            )
            wait_until(lambda: waiting(stop_waiter), "the Stop waiter sleeps on the store")
            assert len(standin.requests) == 1
            posted = post(env, "verdict: approve")
            assert session.next_result()["result"] == "answer 2"  # woken, with nobody typing
            session.proc.terminate()  # the person closes Claude Code: its waiter must not stay behind
            wait_until(lambda: not rewake_processes(data), "no waiter is left once Claude Code is gone")
        finally:
            end(session.proc)
    assert standin.errors == []
    assert len(standin.requests) == 2  # one wake, and nothing handed twice
    woken = messages_text({"messages": standin.requests[1]["messages"][-1:]})
    assert f"#{posted} codex" in woken and "verdict: approve" in woken and framed("codex via cli") in woken
    assert not list((data / "hooks").glob("claude-rewake-*.pid"))
