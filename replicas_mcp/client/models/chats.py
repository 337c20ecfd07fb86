"""Chats inside a replica, their message queues, and their history."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from replicas_mcp.client.models._base import ApiModel, OpenStr

__all__ = [
    "CanvasContent",
    "CanvasItem",
    "CanvasKindValue",
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
    id: str
    provider: OpenStr | None = None  # one of ChatProviderValue
    title: str | None = None
    created_at: str | None = None
    updated_at: str | None = None
    processing: bool = False
    awaitingInput: bool = False  # the agent ended its turn with a question for the user
    lastMessageText: str | None = None


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
    timestamp: str | None = None
    type: OpenStr
    payload: dict[str, Any] = Field(default_factory=dict)


class HistoryPage(ApiModel):
    """One page of a chat's history; `offset` counts from the newest event."""

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
