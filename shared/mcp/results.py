"""The typed results of the relay's tools: their fields and descriptions are the output schema."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


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
