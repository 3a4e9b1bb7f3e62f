"""A stand-in for the ``codex`` executable: what ``codex exec`` does in the review loop, without a model.

Installed as ``codex`` first on PATH by tests/e2e/test_review_loop.py. Like Codex it reads
``$CODEX_HOME/config.toml`` (or ``~/.codex/config.toml``), starts the ``[mcp_servers.relay]`` server
exactly as configured there (command, args, env), and uses its tools: it reads the target and since_id
that the prompt names, fetches the packet, and posts a review that quotes what it read. It appends its
argv, the prompt and what it fetched to ``$STANDIN_LOG`` (JSON lines) so the test can check them;
``codex mcp add`` is only recorded there.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import anyio
import tomlkit
from mcp import Client, StdioServerParameters


def relay_server() -> StdioServerParameters:
    home = Path(os.environ.get("CODEX_HOME") or Path.home() / ".codex")
    config = tomlkit.parse((home / "config.toml").read_text(encoding="utf-8")).unwrap()
    table = config["mcp_servers"]["relay"]
    # Codex passes its servers a small environment: HOME, PATH, LANG, ... plus the table's env.
    env = {name: os.environ[name] for name in ("HOME", "PATH", "LANG") if name in os.environ}
    env.update(table.get("env", {}))
    return StdioServerParameters(command=table["command"], args=table.get("args", []), env=env)


async def review(prompt: str) -> dict[str, Any]:
    target = re.search(r'fetch_messages tool \(target="([^"]+)", since_id=(\d+)\)', prompt)
    reply_to = re.search(r"reply_to=(\d+)", prompt)
    if target is None or reply_to is None:
        raise SystemExit(f"standin codex: the prompt does not say what to fetch: {prompt!r}")
    channel, since_id = target.group(1), int(target.group(2))
    async with Client(relay_server()) as relay:
        fetched = await relay.call_tool("fetch_messages", {"target": channel, "since_id": since_id})
        packets = fetched.structured_content["messages"]
        reviewed = ", ".join(f"#{m['id']} from {m['sender']}" for m in packets)
        firsts = "; ".join(m["text"].splitlines()[0] for m in packets)
        text = (
            f"## Verdict\nrequest changes: reviewed {reviewed} ({firsts})\n\n"
            "## Major issues\n1. The new branch is untested.\n\n## Minor issues\nNone\n\n"
            "## Tests to add\n- a test for the empty input"
        )
        posted = await relay.call_tool(
            "post_message", {"target": channel, "text": text, "reply_to": int(reply_to.group(1))}
        )
    return {"fetched": packets, "posted": posted.structured_content}


def main() -> None:
    argv = sys.argv[1:]
    if argv[:2] == ["mcp", "add"]:  # `codex mcp add NAME -- COMMAND...`: record the registration
        with open(os.environ["STANDIN_LOG"], "a", encoding="utf-8") as log:
            log.write(json.dumps({"mcp_add": argv[2:]}) + "\n")
        return
    prompt = argv[-1]
    if "--json" in argv:  # codex exec --json: the first event names the session (resumed or new)
        session = argv[-2] if argv[1] == "resume" else f"standin-session-{os.getpid()}"
        print(json.dumps({"type": "thread.started", "thread_id": session}), flush=True)
    outcome = anyio.run(review, prompt)
    record = {"argv": argv, "env": {k: v for k, v in os.environ.items() if k.startswith("RELAY_")}, **outcome}
    with open(os.environ["STANDIN_LOG"], "a", encoding="utf-8") as log:
        log.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
