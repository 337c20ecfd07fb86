"""Chats inside a replica (one per coding agent conversation) and their queues of waiting messages."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, Field

from replicas_mcp.server.args import ReplicaId, Wake
from replicas_mcp.server.liveness import ensure_awake
from replicas_mcp.server.registry import ToolGroup, ToolResult
from replicas_mcp.server.safety import clean_text, fence
from replicas_mcp.server.state import ToolContext, client_of
from replicas_mcp.server.views import ChatSummary, Done, chat_summary

if TYPE_CHECKING:
    from replicas_mcp.client.models import QueuedMessage

tools = ToolGroup("chats")

ChatId = Annotated[str, Field(description="From list_chats")]
MessageId = Annotated[str, Field(description="From get_chat_queue")]


class ChatList(ToolResult):
    replica_id: str
    chats: list[ChatSummary]


class Queued(BaseModel):
    id: str
    message: str
    sender: str | None = None
    queued_at: str | None = None


class QueueView(ToolResult):
    chat_id: str
    processing: bool | None = None
    queue: list[Queued]

    def to_text(self) -> str:
        state = {True: " (agent busy)", False: " (agent idle)", None: ""}[self.processing]
        if not self.queue:
            return f"Chat {self.chat_id}{state}: the queue is empty."
        lines = [f"{i}. [{m.id}] {m.message}" for i, m in enumerate(self.queue)]
        return (
            f"Chat {self.chat_id}{state}: {len(self.queue)} queued message(s), next first "
            f"(position. [id] text):\n" + fence("\n".join(lines), f"queued messages of chat {self.chat_id}")
        )


def _queued(messages: list[QueuedMessage]) -> list[Queued]:
    return [
        Queued(id=m.id, message=clean_text(m.message), sender=m.senderDisplayName, queued_at=m.queuedAt)
        for m in messages
    ]


@tools.tool(title="List chats", read_only=True)
async def list_chats(ctx: ToolContext, replica_id: ReplicaId, wake: Wake = False) -> ChatList:
    """List a replica's chats (one conversation per coding agent) and whether each is busy.

    Use a chat_id with send_replica_message or read_replica_history to target that chat."""
    client = client_of(ctx)
    await ensure_awake(client, replica_id, wake=wake)
    chats = await client.chats.list(replica_id)
    return ChatList(replica_id=replica_id, chats=[chat_summary(chat) for chat in chats])


@tools.tool(title="Create chat", read_only=False, destructive=False, idempotent=False)
async def create_chat(
    ctx: ToolContext,
    replica_id: ReplicaId,
    provider: Annotated[Literal["claude", "codex", "cursor", "opencode"], Field(description="Coding agent")],
    title: Annotated[str | None, Field(max_length=200)] = None,
) -> ChatSummary:
    """Open a new chat in a replica, with another (or the same) coding agent, e.g. for a second opinion.

    Then: send_replica_message with its chat_id."""
    chat = await client_of(ctx).chats.create(replica_id, provider=provider, title=title)
    return chat_summary(chat)


@tools.tool(title="Delete chat", read_only=False, destructive=True, idempotent=True)
async def delete_chat(ctx: ToolContext, replica_id: ReplicaId, chat_id: ChatId) -> Done:
    """Delete a chat and its conversation from a replica (the workspace and its files stay)."""
    await client_of(ctx).chats.delete(replica_id, chat_id)
    return Done(id=chat_id, message=f"Chat {chat_id} deleted.")


@tools.tool(title="Get chat queue", read_only=True)
async def get_chat_queue(
    ctx: ToolContext, replica_id: ReplicaId, chat_id: ChatId, wake: Wake = False
) -> QueueView:
    """Messages waiting for a busy chat's agent, next first. Remove, clear or reorder them with the
    queue tools before the agent gets to them."""
    client = client_of(ctx)
    await ensure_awake(client, replica_id, wake=wake)
    queue = await client.queue.get(replica_id, chat_id)
    return QueueView(chat_id=queue.chatId, processing=queue.processing, queue=_queued(queue.queue))


@tools.tool(title="Remove queued message", read_only=False, destructive=True, idempotent=True)
async def remove_queued_message(
    ctx: ToolContext, replica_id: ReplicaId, chat_id: ChatId, message_id: MessageId
) -> QueueView:
    """Drop one waiting message from a chat's queue (it is never sent). Returns the remaining queue."""
    result = await client_of(ctx).queue.remove(replica_id, chat_id, message_id)
    return QueueView(chat_id=chat_id, queue=_queued(result.queue))


@tools.tool(title="Clear chat queue", read_only=False, destructive=True, idempotent=True)
async def clear_chat_queue(ctx: ToolContext, replica_id: ReplicaId, chat_id: ChatId) -> QueueView:
    """Drop every waiting message from a chat's queue; the agent's current turn continues."""
    result = await client_of(ctx).queue.clear(replica_id, chat_id)
    return QueueView(chat_id=chat_id, queue=_queued(result.queue))


@tools.tool(title="Reorder chat queue", read_only=False, destructive=False, idempotent=True)
async def reorder_chat_queue(
    ctx: ToolContext,
    replica_id: ReplicaId,
    chat_id: ChatId,
    message_id: MessageId,
    position: Annotated[int, Field(ge=0, description="New position; 0 is next")],
) -> QueueView:
    """Move a waiting message to another place in the chat's queue (0 = handled next)."""
    result = await client_of(ctx).queue.reorder(replica_id, chat_id, message_id, position)
    return QueueView(chat_id=chat_id, queue=_queued(result.queue))
