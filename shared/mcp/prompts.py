"""The review workflow's prompts, which clients offer as slash commands; their texts live in
``shared/workflow.py``."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from mcp.server.mcpserver import MCPServer
from pydantic import Field

from shared import workflow

_Fn = TypeVar("_Fn", bound=Callable[..., Any])


def register_prompts(server: MCPServer) -> None:
    """Add the review packet and review reply prompts to ``server``."""

    def prompt(title: str) -> Callable[[_Fn], _Fn]:
        # Docstrings are the descriptions clients show: without their source indentation.
        return lambda fn: server.prompt(title=title, description=inspect.cleandoc(fn.__doc__ or ""))(fn)

    @prompt("Post a review packet")
    def review_packet(
        target: Annotated[str, Field(description="Channel to post the packet to")] = "proj-x",
        focus: Annotated[str, Field(description="What the reviewer should look at hardest")] = "",
    ) -> str:
        """Write a review packet (summary, tests, focus questions, a diff block) and post it to a channel."""
        return workflow.review_packet_prompt(target, focus)

    @prompt("Review a packet and post the verdict")
    def review_reply(
        target: Annotated[str, Field(description="Channel the packet is in")] = "proj-x",
        packet_id: Annotated[str, Field(description="Id of the packet to review; default: the latest")] = "",
    ) -> str:
        """Review a packet from a channel and post a verdict with major/minor issues and tests to add."""
        return workflow.review_reply_prompt(target, packet_id)
