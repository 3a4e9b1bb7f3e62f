"""The MCP tools through the SDK's in-memory client."""

from typing import Any

import pytest
from mcp import Client

from relay_stdio.server import build_server
from shared.mcp.identity import identity_from_client
from shared.relay import Relay

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def call(client: Client, tool: str, **arguments: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return result.structured_content


async def error_of(client: Client, tool: str, **arguments: Any) -> str:
    result = await client.call_tool(tool, arguments)
    assert result.is_error
    return result.content[0].text  # type: ignore[union-attr]


async def test_tools_are_listed_with_described_arguments(relay: Relay) -> None:
    async with Client(build_server(relay), raise_exceptions=True) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
    assert set(tools) == {
        "post_message",
        "fetch_messages",
        "wait_for_messages",
        "list_channels",
        "search_messages",
    }
    post = tools["post_message"].input_schema
    assert post["required"] == ["target", "text"]
    for name, prop in post["properties"].items():
        assert prop.get("description"), name
    fetch = tools["fetch_messages"].input_schema["properties"]
    assert "since_id" in fetch and fetch["limit"]["default"] == 50
    assert "ctx" not in fetch
    assert tools["fetch_messages"].output_schema is not None


async def test_post_then_fetch_round_trip(relay: Relay) -> None:
    async with Client(build_server(relay, identity="claude"), raise_exceptions=True) as client:
        posted = await call(client, "post_message", target="Proj-X", text="review packet")
        assert posted["ok"] is True and posted["posted"] == 1
        assert posted["message"]["sender"] == "claude" and posted["message"]["source"] == "mcp"
        fetched = await call(client, "fetch_messages", target="proj-x", since_id=0)
    assert fetched["messages"] == [posted["message"]]
    assert fetched["latest_id"] == 1 and fetched["has_more"] is False


async def test_fetch_without_since_id_uses_this_identitys_position(relay: Relay) -> None:
    relay.post("proj-x", "one", "claude", source="mcp")
    async with Client(build_server(relay, identity="codex"), raise_exceptions=True) as client:
        assert [m["text"] for m in (await call(client, "fetch_messages", target="proj-x"))["messages"]] == [
            "one"
        ]
        assert (await call(client, "fetch_messages", target="proj-x"))["messages"] == []
        relay.post("proj-x", "two", "claude", source="mcp")
    # A new server process with the same identity (an agent that lost its context) resumes there.
    async with Client(build_server(relay, identity="codex"), raise_exceptions=True) as client:
        assert [m["text"] for m in (await call(client, "fetch_messages", target="proj-x"))["messages"]] == [
            "two"
        ]


async def test_identity_comes_from_the_client_name_when_not_configured(relay: Relay) -> None:
    async with Client(build_server(relay), raise_exceptions=True) as client:
        posted = await call(client, "post_message", target="t", text="hi")
        explicit = await call(client, "post_message", target="t", text="hi", sender="Ada")
    assert posted["message"]["sender"] == identity_from_client("mcp")
    assert explicit["message"]["sender"] == "Ada"


@pytest.mark.parametrize(
    ("client_name", "identity"),
    [
        ("claude-code", "claude"),
        ("codex-mcp-client", "codex"),
        ("Cursor", "cursor"),
        ("inspector-client", "inspector"),
        ("", "agent"),
        (None, "agent"),
        ("!!!", "agent"),
    ],
)
def test_client_names_map_to_identities(client_name: str | None, identity: str) -> None:
    assert identity_from_client(client_name) == identity


async def test_list_channels_has_seeds_and_details(relay: Relay) -> None:
    relay.post("zeta", "x", "codex", source="cli")
    async with Client(build_server(relay), raise_exceptions=True) as client:
        listing = await call(client, "list_channels")
    assert listing["channels"] == ["claude", "codex", "proj-x", "zeta"]
    assert listing["details"][-1]["last_sender"] == "codex"


@pytest.mark.parametrize(
    ("tool", "arguments", "expected"),
    [
        ("post_message", {"target": "../etc", "text": "x"}, "letters, digits"),
        ("post_message", {"target": "t", "text": "   "}, "text is required"),
        ("post_message", {"target": "t"}, "text"),
        ("post_message", {"target": "t", "text": 5}, "valid string"),
        ("post_message", {"target": "t", "text": "x", "sender": "a" * 65}, "at most 64"),
        ("post_message", {"target": "t", "text": "nul\x00"}, "binary data is not accepted"),
        ("post_message", {"target": "t", "text": "x" * 300_000}, "the limit is 262144 bytes"),
        ("fetch_messages", {"target": "t", "since_id": -3}, "since_id"),
        ("fetch_messages", {"target": "a/b"}, "letters, digits"),
        ("fetch_messages", {"target": "t", "limit": "many"}, "limit"),
    ],
)
async def test_invalid_calls_are_tool_errors_that_say_how_to_fix_them(
    relay: Relay, tool: str, arguments: dict[str, Any], expected: str
) -> None:
    async with Client(build_server(relay), raise_exceptions=True) as client:
        assert expected in await error_of(client, tool, **arguments)
        # The server is still alive after the error.
        assert (await call(client, "list_channels"))["channels"]


async def test_huge_limit_is_clamped(relay: Relay) -> None:
    for i in range(3):
        relay.post("t", f"m{i}", "a", source="cli")
    async with Client(build_server(relay), raise_exceptions=True) as client:
        result = await call(client, "fetch_messages", target="t", since_id=0, limit=10**12)
    assert len(result["messages"]) == 3


async def test_tool_descriptions_have_no_source_indentation(relay: Relay) -> None:
    async with Client(build_server(relay), raise_exceptions=True) as client:
        tools = (await client.list_tools()).tools
        prompts = (await client.list_prompts()).prompts
    for description in [t.description for t in tools] + [p.description for p in prompts]:
        assert description and "\n " not in description, description
