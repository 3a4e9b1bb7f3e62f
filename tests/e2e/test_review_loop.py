"""The whole review loop with no person in it, run by stand-in agents against real relay processes.

1. ``relay setup codex --apply`` and ``relay setup claude --apply`` configure a temporary home (with a
   stand-in ``claude`` on PATH that records the registration it is asked for).
2. scripts/codex-auto-review.sh (a wrapper over ``relay codex-auto-review``) waits for Claude's posts.
3. The "claude" stand-in, an MCP client of the relay-stdio registered in step 1, posts a review packet.
4. The watcher starts the stand-in ``codex`` (first on PATH), which starts relay-stdio from the
   config.toml written in step 1, fetches the packet and posts a verdict.
5. The Stop hook command from the settings.json written in step 1, fed the JSON Claude Code sends,
   answers with the verdict as the reason to continue.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters

from shared.trust import untrusted_framing
from tests.e2e.conftest import child_env, relay_cli

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "codex-auto-review.sh"
HANG_GUARD_S = 120  # ends a stuck test; nothing here asserts how long anything takes

PACKET = """## Summary
Add parse_empty() so an empty config file means defaults.

## Tests
pytest tests/test_config.py: 12 passed.

## Focus questions
1. Is an empty file really the same as no file?

## Diff
```diff
--- a/config.py
+++ b/config.py
@@ -1,2 +1,4 @@
+def parse_empty(text):
+    return {} if not text.strip() else None
```"""

CODEX_CONFIG_BEFORE = """# my Codex settings
model = "gpt-5-codex"  # keep this comment

[mcp_servers.docs]
command = "npx"
args = ["-y", "docs-mcp"]
"""

CLAUDE_SETTINGS_BEFORE = {
    "permissions": {"allow": ["Bash(npm test)"]},
    "hooks": {"Stop": [{"hooks": [{"type": "command", "command": "notify-send done"}]}]},
}


def executable(path: Path, body: str) -> None:
    path.write_text(f"#!{sys.executable}\n{body}", encoding="utf-8")
    path.chmod(0o755)


def stop_input(session: str, active: bool) -> str:
    """What Claude Code writes on a Stop hook's stdin (hooks reference: common fields + stop_hook_active)."""
    return json.dumps(
        {
            "session_id": session,
            "transcript_path": "/tmp/transcript.jsonl",
            "cwd": "/tmp",
            "permission_mode": "default",
            "hook_event_name": "Stop",
            "stop_hook_active": active,
            "last_assistant_message": "Posted the review packet.",
        }
    )


def run_hook(command: str, payload: str, env: dict[str, str]) -> tuple[int, str, str]:
    done = subprocess.run(
        command, shell=True, input=payload, capture_output=True, text=True, env=env, timeout=HANG_GUARD_S
    )
    return done.returncode, done.stdout, done.stderr


def wait_for_file(path: Path, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + HANG_GUARD_S
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


async def claude_posts_packet(server: StdioServerParameters) -> dict[str, Any]:
    async with Client(server) as claude:
        prompt = await claude.get_prompt("review_packet", {"target": "proj-x"})
        assert "```diff" in prompt.messages[0].content.text  # type: ignore[union-attr]
        posted = await claude.call_tool("post_message", {"target": "proj-x", "text": PACKET})
        record: dict[str, Any] = posted.structured_content["message"]
        return record


async def claude_fetches(server: StdioServerParameters) -> list[dict[str, Any]]:
    async with Client(server) as claude:
        fetched = await claude.call_tool("fetch_messages", {"target": "proj-x"})
        messages: list[dict[str, Any]] = fetched.structured_content["messages"]
        return messages


def test_claude_and_codex_trade_packet_and_verdict_with_no_person(tmp_path: Path) -> None:
    home, project, bindir = tmp_path / "home", tmp_path / "project", tmp_path / "bin"
    for folder in (home, project, bindir):
        folder.mkdir()
    data = tmp_path / "data"
    log, claude_log = tmp_path / "standin-codex.jsonl", tmp_path / "claude-calls.jsonl"
    executable(
        bindir / "codex",
        f"import runpy\nrunpy.run_path({str(REPO / 'tests/e2e/standin_codex.py')!r}, run_name='__main__')\n",
    )
    executable(
        bindir / "claude",
        f"import json, sys\nwith open({str(claude_log)!r}, 'a') as f:\n"
        "    f.write(json.dumps(sys.argv[1:]) + '\\n')\n",
    )
    env = child_env(
        home,
        PATH=os.pathsep.join([str(bindir), str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        CLAUDE_CODEX_DATA_DIR=str(data),
        STANDIN_LOG=str(log),
    )
    (home / ".codex").mkdir()
    (home / ".codex" / "config.toml").write_text(CODEX_CONFIG_BEFORE)
    (home / ".claude").mkdir()
    (home / ".claude" / "settings.json").write_text(json.dumps(CLAUDE_SETTINGS_BEFORE))

    # 1. Setup, as a newcomer would run it.
    for args in (["setup", "codex", "--apply"], ["setup", "claude", "--apply", "--scope", "user"]):
        done = subprocess.run([*relay_cli(), *args], env=env, cwd=project, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    calls = [json.loads(line) for line in claude_log.read_text().splitlines()]
    assert calls[0] == ["mcp", "remove", "--scope", "user", "relay"]
    add = calls[1]
    assert add[:7] == ["mcp", "add", "--transport", "stdio", "--scope", "user", "relay"] and add[7] == "--"
    claude_server = StdioServerParameters(command=add[8], args=add[9:], env=child_env(home), cwd=str(project))
    settings = json.loads((home / ".claude" / "settings.json").read_text())
    assert settings["permissions"] == CLAUDE_SETTINGS_BEFORE["permissions"]
    stop_groups = settings["hooks"]["Stop"]
    assert stop_groups[0] == CLAUDE_SETTINGS_BEFORE["hooks"]["Stop"][0]  # the user's own hook survives
    stop_command = stop_groups[1]["hooks"][0]["command"]
    context_command = settings["hooks"]["UserPromptSubmit"][0]["hooks"][0]["command"]
    assert "# keep this comment" in (home / ".codex" / "config.toml").read_text()

    # 2. The loop waits for Claude's next post.
    loop_env = {**env, "TARGET": "proj-x", "WATCH_SENDER": "claude", "ONCE": "1"}
    with subprocess.Popen(["bash", str(SCRIPT)], env=loop_env, cwd=project, stderr=subprocess.PIPE) as loop:
        wait_for_file(data / "watch" / "proj-x--claude.json", loop)

        # 3. Claude posts a packet; 5. then stops, and its Stop hook waits for the answer.
        packet = anyio.run(claude_posts_packet, claude_server)
        code, out, err = run_hook(stop_command, stop_input("session-1", False), env)
        assert code == 0, err
        # 4. Meanwhile the watcher ran the stand-in codex once, and it finished.
        _, loop_err = loop.communicate(timeout=HANG_GUARD_S)
        assert loop.returncode == 0, loop_err.decode()

    channel = [json.loads(line) for line in (data / "channels" / "proj-x.jsonl").read_text().splitlines()]
    assert [(m["id"], m["sender"]) for m in channel] == [(1, "claude"), (2, "codex")]
    assert channel[0]["text"] == PACKET == packet["text"]
    verdict = channel[1]
    assert verdict["reply_to"] == 1
    assert verdict["text"].startswith(
        "## Verdict\nrequest changes: reviewed #1 from claude (## Summary)\n\n## Major issues\n"
    )

    runs = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(runs) == 1
    run = runs[0]
    assert run["argv"][:9] == [
        "exec", "--skip-git-repo-check", "-c", 'mcp_servers.relay.default_tools_approval_mode="approve"',
        "-c", "mcp_servers.relay.required=true", "-c", 'sandbox_mode="read-only"', "--json",
    ]  # fmt: skip
    assert len(run["argv"]) == 10 and "since_id=0" in run["argv"][9] and "reply_to=1" in run["argv"][9]
    # The session the first batch started is kept with the watch state, for the next batch to resume.
    state = json.loads((data / "watch" / "proj-x--claude.json").read_text())
    assert state["position"] == 1 and state["codex_session"].startswith("standin-session-")
    assert {k: run["env"][k] for k in ("RELAY_SINCE_ID", "RELAY_LATEST_ID", "RELAY_IDS", "RELAY_SENDER")} == {
        "RELAY_SINCE_ID": "0", "RELAY_LATEST_ID": "1", "RELAY_IDS": "1", "RELAY_SENDER": "claude",
    }  # fmt: skip
    assert [(m["id"], m["sender"], m["text"]) for m in run["fetched"]] == [(1, "claude", PACKET)]
    assert run["posted"]["message"] == verdict

    # The Stop hook's answer is Claude Code's documented block decision, carrying the verdict.
    answer = json.loads(out)
    assert set(answer) == {"decision", "reason"} and answer["decision"] == "block"
    assert "### #2 codex" in answer["reason"] and verdict["text"] in answer["reason"]
    assert untrusted_framing("proj-x", ["codex via mcp"]) in answer["reason"]

    # Claude continues, and stops again: nothing new, so it may stop (no endless loop).
    code, out, err = run_hook(stop_command, stop_input("session-1", True), env)
    assert (code, out) == (0, ""), err
    # The hook and Claude's own fetch_messages share one read position: the verdict is not repeated.
    assert anyio.run(claude_fetches, claude_server) == []

    # A person's note reaches Claude's next prompt as context.
    note = subprocess.run(
        [*relay_cli(), "post", "proj-x", "please also update the docs", "--sender", "ada", "--json"],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    note_id = json.loads(note.stdout)["id"]
    prompt_input = json.dumps(
        {"session_id": "session-1", "hook_event_name": "UserPromptSubmit", "prompt": "go on"}
    )
    code, out, err = run_hook(context_command, prompt_input, env)
    assert code == 0, err
    context = json.loads(out)
    assert set(context) == {"hookSpecificOutput"}
    assert context["hookSpecificOutput"]["hookEventName"] == "UserPromptSubmit"
    assert f"### #{note_id} ada" in context["hookSpecificOutput"]["additionalContext"]
    assert "please also update the docs" in context["hookSpecificOutput"]["additionalContext"]


def test_the_script_maps_the_original_environment_onto_relay_codex_auto_review(tmp_path: Path) -> None:
    """SESSION_ID resumes a session (CODEX_CD then does not apply); the other variables become options."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    record = tmp_path / "argv.json"
    executable(
        bindir / "codex", f"import json, sys\nopen({str(record)!r}, 'w').write(json.dumps(sys.argv[1:]))\n"
    )
    env = child_env(
        tmp_path,
        PATH=os.pathsep.join([str(bindir), str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
        CLAUDE_CODEX_DATA_DIR=str(tmp_path / "data"),
    )
    for n in range(1, 7):
        post = [*relay_cli(), "post", "proj-x", f"packet {n}", "--sender", "claude" if n > 4 else "ada"]
        subprocess.run(post, env=env, check=True, capture_output=True, timeout=HANG_GUARD_S)
    loop_env = {
        **env, "TARGET": "proj-x", "WATCH_SENDER": "claude", "ONCE": "1", "SINCE": "4",
        "SESSION_ID": "0199-abc", "CODEX_SANDBOX": "workspace-write", "CODEX_CD": str(tmp_path),
        "CODEX_ARGS": "--model gpt-5-codex", "LASTFILE": str(tmp_path / "position.json"),
    }  # fmt: skip
    done = subprocess.run(
        ["bash", str(SCRIPT)], env=loop_env, capture_output=True, text=True, timeout=HANG_GUARD_S
    )
    assert done.returncode == 0, done.stderr
    argv = json.loads(record.read_text())
    assert argv[:12] == [
        "exec", "resume", "--skip-git-repo-check",
        "-c", 'mcp_servers.relay.default_tools_approval_mode="approve"',
        "-c", "mcp_servers.relay.required=true", "-c", 'sandbox_mode="workspace-write"',
        "--model", "gpt-5-codex", "0199-abc",
    ]  # fmt: skip
    assert len(argv) == 13 and "ids 5 6" in argv[12] and "since_id=4" in argv[12] and "reply_to=6" in argv[12]
    assert json.loads((tmp_path / "position.json").read_text())["position"] == 6
    assert "relay codex-auto-review: reviewing #5, #6 on proj-x" in done.stderr
    assert untrusted_framing("proj-x", ["claude"]) in argv[12]
