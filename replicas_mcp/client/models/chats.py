"""Chats inside a replica, their message queues, and their history."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from pydantic import Field, model_validator

from replicas_mcp.client.models._base import ApiModel, OpenStr

__all__ = [
    "CanvasContent",
    "CanvasItem",
    "CanvasKindValue",
    "ChatList",
    "ChatProviderValue",
    "ChatQueue",
    "HistoryEvent",
    "HistoryPage",
    "QueueMutation",
    "QueuedMessage",
    "ReplicaChat",
    "ReplicaHooks",
]

ChatProviderValue = Literal["claude", "codex", "cursor", "opencode", "pi"]
CanvasKindValue = Literal["markdown", "html", "image", "video", "audio", "other"]


class ReplicaChat(ApiModel):
    """A chat as the REST API lists it (contract `ReplicaChat`; `lastMessageText` is the guide's).

    Whether the agent waits for input is NOT part of this shape: it exists only in the event stream's
    `EngineChatSummary.awaitingInput`, and in the history as a pending interactive tool call. Use
    `client.chats.states(replica_id)` for it. (An `awaitingInput` sent here anyway is kept untyped in
    `model_extra`, like any field outside the contract, so nothing relies on it by accident.)
    """

    id: str
    provider: OpenStr | None = None  # one of ChatProviderValue
    title: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    processing: bool = False
    lastMessageText: str | None = None


class ChatList(list[ReplicaChat]):
    """`client.chats.list`'s answer: the chats, plus `waking`.

    The contract answers a sleeping workspace's chats with 200 and `waking: true` (the workspace is
    being woken; retry in 30-90 s); the guide answers 409 (`WorkspaceSleepingError`). Both are handled:
    this list is then empty and `waking` is True.
    """

    def __init__(self, chats: Iterable[ReplicaChat] = (), *, waking: bool = False) -> None:
        super().__init__(chats)
        self.waking = waking


class QueuedMessage(ApiModel):
    id: str
    message: str
    queuedAt: str | None = None
    senderUserId: str | None = None
    senderEmail: str | None = None
    senderDisplayName: str | None = None


class ChatQueue(ApiModel):
    chatId: str
    processing: bool = False
    queue: list[QueuedMessage] = Field(default_factory=list)


class QueueMutation(ApiModel):
    success: bool
    queue: list[QueuedMessage] = Field(default_factory=list)


class HistoryEvent(ApiModel):
    """One history event; `payload` is always the provider's own payload.

    The contract nests it: `HistoryEvent.payload` is a whole `AgentEvent` (`timestamp`, the same `type`,
    and the provider's `payload`). That envelope is unwrapped here, so every reader sees one shape whether
    the server nests it (the contract) or not.
    """

    timestamp: str | None = None
    type: OpenStr
    payload: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _unwrap_agent_event(cls, data: Any) -> Any:
        if isinstance(data, dict):
            outer = data.get("payload")
            if (
                isinstance(outer, dict)
                and outer.get("type") == data.get("type")
                and isinstance(outer.get("payload"), dict)
            ):
                return {**data, "payload": outer["payload"]}
        return data


class HistoryPage(ApiModel):
    """One page of a chat's history; `offset` counts from the newest event.

    `waking` is True when the read found the workspace asleep and woke it (the contract's 200 answer;
    the events are then empty, retry in 30-90 s). The guide answers 409 instead.
    """

    thread_id: str | None = None
    events: list[HistoryEvent] = Field(default_factory=list)
    total: int = 0
    has_more: bool = False
    coding_agent: OpenStr | None = None
    waking: bool | None = None


class CanvasItem(ApiModel):
    filename: str
    kind: OpenStr  # one of CanvasKindValue
    sizeBytes: int = 0


class CanvasContent(CanvasItem):
    """A canvas item's content: `content` for text kinds, `base64` for binary, `tooLarge` over the cap."""

    mimeType: str | None = None
    content: str | None = None
    base64: str | None = None
    tooLarge: bool = False


class ReplicaHooks(ApiModel):
    """Execution logs of a replica's warm and start hooks."""

    warm_hooks: dict[str, Any] = Field(default_factory=dict)
    start_hooks: dict[str, Any] = Field(default_factory=dict)
