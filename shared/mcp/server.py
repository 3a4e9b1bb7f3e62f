"""``build_server``: the relay's MCP tools as thin adapters over :class:`shared.relay.Relay`."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import Resource, ToolAnnotations
from pydantic import BeforeValidator, Field, Strict

from shared import __version__, waiting
from shared.errors import RelayError
from shared.mcp.identity import IdentityResolver
from shared.mcp.prompts import register_prompts
from shared.mcp.resources import channel_resources, register_channel_resource
from shared.mcp.results import ChannelsResult, FetchResult, MessageRecord, PostResult, SearchResult
from shared.mcp.strict import StrictArgumentsServer
from shared.models import FETCH_LIMIT_MAX, MAX_ID, TARGET_RULE, clamp_limit, validate_id
from shared.relay import Relay
from shared.search import SEARCH_DEFAULT_LIMIT, SEARCH_LIMIT_MAX, search_limit
from shared.storage import offload
from shared.trust import untrusted_framing

_Fn = TypeVar("_Fn", bound=Callable[..., Any])

INSTRUCTIONS = f"""\
This server is a message relay shared by coding agents (Claude Code, Codex, ...) and the people who run
them. Messages live in named channels (for example 'proj-x' for a shared project thread, or 'claude' /
'codex' as an agent's inbox). Post with post_message, read with fetch_messages (with no since_id it
returns only what you have not fetched before, and remembers your position), wait for an answer with
wait_for_messages (it returns as soon as someone else posts), find earlier messages by a word with
search_messages, and see channels with list_channels.
Each channel is also a resource, relay://channel/<name>. Typical workflow: one agent posts a review
packet (summary, a ```diff block, questions), another fetches it, reviews and posts a verdict back to
the same channel.
{untrusted_framing()}
"""

Target = Annotated[
    str,
    Field(
        description=f"Channel to use, e.g. 'proj-x', 'codex' or 'claude'; {TARGET_RULE}. Case-insensitive."
    ),
]


def _shared_rule(rule: Callable[[Any], Any]) -> BeforeValidator:
    """Check a raw argument with a rule of ``shared/models.py`` before pydantic's lax coercion sees it.

    Lax pydantic would take ``"5"`` for 5 and ``true`` for 1 (and store ``reply_to: true`` as 1); the
    shared rule refuses both, as the HTTP API and the CLI do, and its text is what the model reads.
    None (an omitted optional argument) passes through.
    """
    return BeforeValidator(lambda value: value if value is None else rule(value))


SinceIdRule = _shared_rule(lambda value: validate_id(value, "since_id"))
ReplyToRule = _shared_rule(lambda value: validate_id(value, "reply_to", minimum=1))
# The bounds again, for the input schema the model reads (a constraint on ``int | None`` would apply to None).
Position = Annotated[int, Field(ge=0, le=MAX_ID)]
MessageId = Annotated[int, Field(ge=1, le=MAX_ID)]
LimitRule = _shared_rule(lambda value: clamp_limit(value, FETCH_LIMIT_MAX))
SearchLimitRule = _shared_rule(search_limit)


@contextmanager
def _as_tool_errors() -> Iterator[None]:
    """Turn the relay's own errors into tool errors whose text the model can act on."""
    try:
        yield
    except RelayError as exc:
        raise ToolError(str(exc)) from exc


class RelayServer(StrictArgumentsServer):
    """The relay's server: strict tool arguments, and a resource list that names every channel, so
    clients can offer them for @-mentions."""

    def __init__(self, relay: Relay) -> None:
        super().__init__(
            "claude-codex-relay", instructions=INSTRUCTIONS, version=__version__, log_level="WARNING"
        )
        self.relay = relay

    async def list_resources(self) -> list[Resource]:
        return await super().list_resources() + channel_resources(self.relay)


def build_server(relay: Relay, identity_resolver: IdentityResolver) -> MCPServer:
    """Build the relay's MCP server, for any transport.

    Args:
        relay: the channels to serve.
        identity_resolver: who a call posts and reads as, from its context: the stdio server's
            configured sender, an HTTP request's ``X-Relay-Sender``, else the client's name.
    """
    server = RelayServer(relay)

    def tool(annotations: ToolAnnotations) -> Callable[[_Fn], _Fn]:
        # Docstrings are the descriptions the model reads: without their source indentation.
        return lambda fn: server.tool(
            description=inspect.cleandoc(fn.__doc__ or ""), annotations=annotations
        )(fn)

    who = identity_resolver

    @tool(ToolAnnotations(destructive_hint=False, idempotent_hint=False, open_world_hint=False))
    async def post_message(
        target: Target,
        text: Annotated[
            str, Field(description="The message, Markdown allowed (use ```diff blocks for diffs)")
        ],
        ctx: Context,
        sender: Annotated[
            str | None, Field(description="Who is posting; leave empty to post as this agent's identity")
        ] = None,
        reply_to: Annotated[
            MessageId | None,
            ReplyToRule,
            Field(description="Id of the message this answers, if any"),
        ] = None,
    ) -> PostResult:
        """Post a message into a channel (a shared inbox other agents and people read).

        Typical channels: 'codex' or 'claude' (an agent's inbox) or a shared project channel like 'proj-x'.
        Returns the new message's id.
        """
        author = sender or who(ctx)
        with _as_tool_errors():
            record = await offload.run(
                lambda: relay.post(target, text, author, source="mcp", reply_to=reply_to),
                in_place=relay.post_in_place,  # a disk flush or a database round trip: on a thread
            )
        return PostResult(ok=True, posted=record["id"], message=MessageRecord(**record))

    @tool(ToolAnnotations(read_only_hint=False, open_world_hint=False))
    async def fetch_messages(
        target: Target,
        ctx: Context,
        since_id: Annotated[
            Position | None,
            SinceIdRule,
            Field(
                description="Return messages with id greater than this. Leave empty to get exactly what you "
                "have not fetched yet from this channel (your saved position, which then moves forward)",
            ),
        ] = None,
        limit: Annotated[
            int, LimitRule, Field(description=f"Most messages to return, 1 to {FETCH_LIMIT_MAX}")
        ] = 50,
    ) -> FetchResult:
        """Fetch messages from a channel, oldest first.

        Without since_id you get only messages you have not fetched before, even after a restart.
        If has_more is true, call again to get the rest.
        """
        identity = who(ctx)
        with _as_tool_errors():
            result = await offload.run(
                lambda: relay.fetch(target, since_id=since_id, limit=limit, identity=identity),
                in_place=relay.small_fetch(target, limit),
            )
        return FetchResult(**result)

    @tool(ToolAnnotations(read_only_hint=False, open_world_hint=False))
    async def wait_for_messages(
        target: Target,
        ctx: Context,
        since_id: Annotated[
            Position | None,
            SinceIdRule,
            Field(
                description="Wait for messages with id greater than this. Leave empty to wait from your "
                "saved position (what fetch_messages would return next); it moves on when messages return",
            ),
        ] = None,
        timeout_s: Annotated[
            float,
            Strict(),  # a number, never the string "5"
            Field(
                ge=0,
                description=f"Longest wait in seconds (0 checks once and returns); values over "
                f"{waiting.MAX_TIMEOUT_S:g} are clamped. Keep it below your client's tool timeout",
            ),
        ] = waiting.DEFAULT_TIMEOUT_S,
        from_sender: Annotated[
            str | None,
            Field(description="Return only once this sender (e.g. 'codex') has posted; default: anyone else"),
        ] = None,
        limit: Annotated[
            int, LimitRule, Field(description=f"Most messages to return, 1 to {FETCH_LIMIT_MAX}")
        ] = 50,
    ) -> FetchResult:
        """Wait until someone else posts in a channel, then return the new messages (as fetch_messages does).

        Returns at once if there are unseen messages already; your own posts never count and are not
        returned. An empty list means nobody posted before timeout_s: call it again to keep waiting.
        """

        async def progress(waited: float, total: float, message: str) -> None:
            await ctx.report_progress(waited, total, message)

        with _as_tool_errors():
            result = await waiting.wait_for_messages(
                relay,
                target,
                identity=who(ctx),
                since_id=since_id,
                timeout_s=timeout_s,
                from_sender=from_sender,
                limit=limit,
                on_progress=progress,
            )
        return FetchResult(**result)

    @tool(ToolAnnotations(read_only_hint=True, open_world_hint=False))
    def list_channels() -> ChannelsResult:
        """List the known channels with their message counts, latest id, and last sender and time."""
        with _as_tool_errors():
            return ChannelsResult(**relay.channels())

    @tool(ToolAnnotations(read_only_hint=True, open_world_hint=False))
    async def search_messages(
        query: Annotated[
            str,
            Field(description="Words to find (all of them, case-insensitive, also inside longer words)"),
        ],
        target: Annotated[
            str | None, Field(description="Channel to search; leave empty to search every channel")
        ] = None,
        limit: Annotated[
            int, SearchLimitRule, Field(description=f"Most messages to return, 1 to {SEARCH_LIMIT_MAX}")
        ] = SEARCH_DEFAULT_LIMIT,
    ) -> SearchResult:
        """Find messages whose text or sender holds every word of query, newest first.

        Use it to find an earlier review, decision or diff by a word. Reading positions do not move.
        """
        with _as_tool_errors():
            result = await offload.run(
                lambda: relay.search(query, target=target, limit=limit), in_place=False
            )
        return SearchResult(**result)

    register_channel_resource(server, relay)
    register_prompts(server)
    return server
