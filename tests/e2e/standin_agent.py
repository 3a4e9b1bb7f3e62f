"""A stand-in agent for ``relay watch --exec``: it answers the batch it is given through a real relay-stdio.

``python standin_agent.py NAME``: starts relay-stdio as NAME on the watcher's store
(``CLAUDE_CODEX_DATA_DIR``), fetches the batch (``RELAY_SINCE_ID``..``RELAY_LATEST_ID`` on
``RELAY_TARGET``) with fetch_messages and posts ``NAME answers #<latest id>`` with post_message, so its
answers are stored exactly as an agent's (source ``mcp``). Two of them, each watching the other, answer
each other forever: tests/e2e/test_loop_guard.py.
"""

from __future__ import annotations

import os
import sys

import anyio
from mcp import Client, StdioServerParameters

from tests.e2e.conftest import relay_stdio_command


async def answer(name: str) -> None:
    command = relay_stdio_command()
    data_dir = os.environ["CLAUDE_CODEX_DATA_DIR"]
    server = StdioServerParameters(
        command=command[0],
        args=[*command[1:], "--sender", name, "--data-dir", data_dir],
        env=dict(os.environ),
    )
    target, since, latest = (
        os.environ["RELAY_TARGET"],
        int(os.environ["RELAY_SINCE_ID"]),
        os.environ["RELAY_LATEST_ID"],
    )
    async with Client(server) as relay:
        fetched = await relay.call_tool("fetch_messages", {"target": target, "since_id": since})
        ids = [m["id"] for m in fetched.structured_content["messages"]]
        assert int(latest) in ids, (ids, latest)  # a person's later message may follow the batch
        await relay.call_tool(
            "post_message", {"target": target, "text": f"{name} answers #{latest}", "reply_to": int(latest)}
        )


if __name__ == "__main__":
    anyio.run(answer, sys.argv[1])
