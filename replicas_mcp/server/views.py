"""Compact views of API records shared by several tools and resources: the fields an agent acts on."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel

from replicas_mcp.server.safety import AGENT, clean_text, fence, truncate
from replicas_mcp.server.tools import ToolResult

if TYPE_CHECKING:
    from replicas_mcp.client.models import ReplicaChat, ReplicaListItem
    from replicas_mcp.delegation.asking import ChatLook

PREVIEW_LIMIT = 200
QUESTION_PREVIEW = 200  # a list row's question: enough to recognise it, get_replica_result has it whole


class ReplicaSummary(BaseModel):
    id: str
    name: str
    status: str
    repos: list[str] = []
    prs: list[str] = []
    needs_input: str | None = None  # the question the agent waits on (fenced)


def replica_summary(item: ReplicaListItem, question: str | None = None) -> ReplicaSummary:
    return ReplicaSummary(
        id=item.id,
        name=item.name,
        status=item.status,
        repos=[repo.name for repo in item.repositories],
        prs=[pr.url for pr in item.pull_requests],
        needs_input=fenced_question(question, item.id),
    )


def fenced_question(question: str | None, replica_id: str) -> str | None:
    """A question the agent waits on, short and fenced as the agent's text (None passes through)."""
    if question is None:
        return None
    return fence(truncate(question, QUESTION_PREVIEW), f"question from replica {replica_id}")


class ChatSummary(ToolResult):
    id: str
    provider: str | None = None
    title: str | None = None
    processing: bool = False
    needs_input: str | None = None  # the question this chat's agent waits on (fenced)
    last_message: str | None = None  # "agent: …" or "user: …": the newest message in its history


def chat_summary(chat: ReplicaChat, look: ChatLook | None = None, replica_id: str = "") -> ChatSummary:
    """A chat; with `look` (its history tail), the question it waits on and who wrote last. Queued
    messages are not in the history, so they are never shown as the last message."""
    last = None
    if look and look.last_text:  # who wrote it, then their words fenced as theirs
        author = AGENT if look.last_from == "agent" else "a user of the replica"
        last = f"{look.last_from}: {fenced_preview(look.last_text, 'last message', author)}"
    return ChatSummary(
        id=chat.id,
        provider=chat.provider,
        title=preview(chat.title),
        processing=chat.processing,
        needs_input=fenced_question(look.question if look else None, replica_id),
        last_message=last,
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
