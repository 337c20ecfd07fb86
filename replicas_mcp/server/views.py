"""Compact views of API records shared by several tools and resources: the fields an agent acts on."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel

from replicas_mcp.server.registry import ToolResult
from replicas_mcp.server.safety import CONVERSATION, clean_text, fence, truncate

if TYPE_CHECKING:
    from replicas_mcp.client.models import ReplicaChat, ReplicaListItem

PREVIEW_LIMIT = 200


class ReplicaSummary(BaseModel):
    id: str
    name: str
    status: str
    repos: list[str] = []
    prs: list[str] = []


def replica_summary(item: ReplicaListItem) -> ReplicaSummary:
    return ReplicaSummary(
        id=item.id,
        name=item.name,
        status=item.status,
        repos=[repo.name for repo in item.repositories],
        prs=[pr.url for pr in item.pull_requests],
    )


class ChatSummary(ToolResult):
    id: str
    provider: str | None = None
    title: str | None = None
    processing: bool = False
    last_message: str | None = None


def chat_summary(chat: ReplicaChat) -> ChatSummary:
    return ChatSummary(
        id=chat.id,
        provider=chat.provider,
        title=preview(chat.title),
        processing=chat.processing,
        last_message=fenced_preview(chat.lastMessageText, "last message", CONVERSATION),
    )


def preview(text: str | None, limit: int = PREVIEW_LIMIT) -> str | None:
    """Short, cleaned text for list views (full text has its own tool)."""
    if text is None:
        return None
    return truncate(clean_text(text).strip(), limit)


def fenced_preview(text: str | None, source: str, by: str, limit: int = PREVIEW_LIMIT) -> str | None:
    """A short preview of text someone else wrote, fenced (a preview is as untrusted as the whole)."""
    shown = preview(text, limit)
    return fence(shown, source, by=by) if shown else None


class Done(ToolResult):
    """The outcome of a change that returns nothing else worth showing (failures raise instead)."""

    message: str
