"""``build_server``: the relay's MCP tools as thin adapters over :class:`shared.relay.Relay`."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from mcp.types import CallToolResult, InputRequiredResult, Resource, ToolAnnotations
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict

from relay_stdio.identity import identity_from_client
from shared import __version__, waiting, workflow
from shared.errors import RelayError
from shared.models import API_LIMIT_MAX, FETCH_LIMIT_MAX, MAX_ID, TARGET_RULE, clamp_limit, validate_id
from shared.relay import Relay
from shared.search import SEARCH_DEFAULT_LIMIT, SEARCH_LIMIT_MAX, search_limit
from shared.storage import offload
from shared.transcript import conversation_markdown
from shared.trust import untrusted_framing

_Fn = TypeVar("_Fn", bound=Callable[..., Any])
CHANNEL_URI = "relay://channel/{target}"
RESOURCE_MESSAGES = 50

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


class MessageRecord(BaseModel):
    """A stored message; unknown keys written by newer relays are kept."""

    model_config = ConfigDict(extra="allow")
    id: int = Field(description="Message id, 1, 2, 3... per channel")
    ts: float = Field(description="Time posted, Unix epoch seconds")
    target: str = Field(description="Channel")
    sender: str = Field(description="Who posted it")
    text: str = Field(description="Message body (Markdown)")


class PostResult(BaseModel):
    ok: bool
    posted: int = Field(description="The new message's id")
    message: MessageRecord


class FetchResult(BaseModel):
    messages: list[MessageRecord] = Field(description="Oldest first")
    latest_id: int = Field(description="Id of the last message returned (pass it as since_id next time)")
    has_more: bool = Field(description="True if more messages follow; fetch again with since_id=latest_id")
    since_id: int = Field(description="The position this read started after")


class SearchResult(BaseModel):
    query: str = Field(description="The query as searched (surrounding spaces removed)")
    target: str | None = Field(description="The channel searched, or null for every channel")
    messages: list[MessageRecord] = Field(description="Matching messages, newest first")
    complete: bool = Field(description="False when the search ran out of time before the oldest messages")


class ChannelDetail(BaseModel):
    target: str
    count: int
    latest_id: int
    last_ts: float | None
    last_sender: str | None


class ChannelsResult(BaseModel):
    channels: list[str]
    details: list[ChannelDetail]


class _StrictArgumentsServer(MCPServer):
    """An MCPServer that refuses arguments a tool does not have.

    The SDK ignores unknown arguments, so a model that writes ``sinceId`` instead of ``since_id`` would
    silently read from its saved position; an error naming the valid arguments lets it fix the call.
    A tool without arguments ignores extras: nothing can be misspelt there, and some clients send a
    placeholder argument to such tools.
    """

    _arguments: dict[str, list[str]] | None = None

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
    ) -> CallToolResult | InputRequiredResult:
        if self._arguments is None:  # tools are all registered before the first call; list them once
            self._arguments = {
                tool.name: sorted(tool.input_schema.get("properties", {})) for tool in await self.list_tools()
            }
        known = self._arguments.get(name, [])
        if known:
            unknown = sorted(set(arguments) - set(known))
            if unknown:
                raise ToolError(
                    f"{name} has no argument {', '.join(map(repr, unknown))}; its arguments are "
                    f"{', '.join(known)}. Remove or rename the argument and call again"
                )
        return await super().call_tool(name, arguments, context)


@contextmanager
def _as_tool_errors() -> Iterator[None]:
    """Turn the relay's own errors into tool errors whose text the model can act on."""
    try:
        yield
    except RelayError as exc:
        raise ToolError(str(exc)) from exc


class RelayServer(_StrictArgumentsServer):
    """The relay's server: strict tool arguments, and a resource list that names every channel, so
    clients can offer them for @-mentions."""

    def __init__(self, relay: Relay) -> None:
        super().__init__(
            "claude-codex-relay", instructions=INSTRUCTIONS, version=__version__, log_level="WARNING"
        )
        self.relay = relay

    async def list_resources(self) -> list[Resource]:
        listed = await super().list_resources()
        try:
            names = self.relay.channels()["channels"]
        except RelayError as exc:
            raise ResourceError(str(exc)) from exc
        return listed + [
            Resource(
                uri=CHANNEL_URI.format(target=name),
                name=f"channel {name}",
                title=f"Relay channel {name}",
                description=f"The last {RESOURCE_MESSAGES} messages of relay channel {name}, as Markdown",
                mime_type="text/markdown",
            )
            for name in names
        ]


def build_server(relay: Relay, identity: str | None = None) -> MCPServer:
    """Build the relay's MCP server.

    Args:
        relay: the channels to serve.
        identity: this process's sender name; when None it is derived per call from the client's name.
    """
    server = RelayServer(relay)

    def tool(annotations: ToolAnnotations) -> Callable[[_Fn], _Fn]:
        # Docstrings are the descriptions the model reads: without their source indentation.
        return lambda fn: server.tool(
            description=inspect.cleandoc(fn.__doc__ or ""), annotations=annotations
        )(fn)

    def prompt(title: str) -> Callable[[_Fn], _Fn]:
        return lambda fn: server.prompt(title=title, description=inspect.cleandoc(fn.__doc__ or ""))(fn)

    def who(ctx: Context) -> str:
        if identity:
            return identity
        params = ctx.session.client_params
        return identity_from_client(params.client_info.name if params else None)

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

    @server.resource(
        CHANNEL_URI,
        name="channel",
        title="Relay channel",
        description=f"The last {RESOURCE_MESSAGES} messages of a relay channel as Markdown",
        mime_type="text/markdown",
    )
    def channel(target: str) -> str:
        try:
            messages = relay.recent(target, RESOURCE_MESSAGES, API_LIMIT_MAX)
        except RelayError as exc:
            raise ResourceError(str(exc)) from exc
        return conversation_markdown(target.strip().lower(), messages)

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

    return server
