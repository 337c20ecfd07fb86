"""Chats inside a replica (one per coding agent conversation) and their queues of waiting messages."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING, Annotated, Literal, TypeVar

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field

from replicas_mcp.client.errors import NotFoundError
from replicas_mcp.delegation.steering import chosen_chat
from replicas_mcp.server.args import Id, OptionalChatId, ReplicaId, Wake, may_wake
from replicas_mcp.server.liveness import ensure_awake
from replicas_mcp.server.safety import USER, clean_text, fence
from replicas_mcp.server.state import ToolContext, client_of
from replicas_mcp.server.state.looks import look_at_chats_once
from replicas_mcp.server.tools import ToolGroup, ToolResult
from replicas_mcp.server.toolsets.replica_questions import ask_delete_chat, ask_edit_queue
from replicas_mcp.server.transcript import event_lines
from replicas_mcp.server.views import ChatSummary, Done, chat_summary

if TYPE_CHECKING:
    from replicas_mcp.client.models import QueuedMessage

tools = ToolGroup("chats")
T = TypeVar("T")

ChatId = Annotated[Id, Field(description="From list_chats")]


class ChatList(ToolResult):
    replica_id: str
    chats: list[ChatSummary]


class Queued(BaseModel):
    id: str
    message: str


class QueueView(ToolResult):
    chat_id: str
    replica: str | None = None  # "name (id)": the replica the chat belongs to, named
    processing: bool | None = None
    queue: list[Queued]

    def to_text(self) -> str:
        state = {True: ", agent busy", False: ", agent idle", None: ""}[self.processing]
        chat = f"Chat {self.chat_id}" + (f" of replica {self.replica}" if self.replica else "")
        if not self.queue:
            return f"{chat}{state}: the queue is empty."
        lines = [f"{i}. [{m.id}] {m.message}" for i, m in enumerate(self.queue, start=1)]
        return (
            f"{chat}{state}: {len(self.queue)} queued message(s), position 1 runs next "
            f"(position. [id] text):\n"
            + fence("\n".join(lines), f"queued messages of chat {self.chat_id}", by=USER)
        )


def _queued(messages: list[QueuedMessage]) -> list[Queued]:
    return [Queued(id=m.id, message=clean_text(m.message)) for m in messages]


async def _missing_message_named(pending: Awaitable[T]) -> T:
    """A queue change whose message is gone says so and points to the queue, not to the chat list."""
    try:
        return await pending
    except NotFoundError:
        raise ToolError(
            "No queued message with that message_id in that chat: it may have run already. Call "
            "get_chat_queue for the messages still queued."
        ) from None


@tools.tool(title="List chats", read_only=True)
async def list_chats(ctx: ToolContext, replica_id: ReplicaId, wake: Wake = False) -> ChatList:
    """A replica's chats (one conversation per coding agent): busy, the question one waits on, who wrote
    last. Pass a chat_id to send_replica_message or read_replica_history."""
    client = client_of(ctx)
    await ensure_awake(client, replica_id, wake=may_wake(ctx, wake))
    chats = await client.chats.list(replica_id)
    looks = await look_at_chats_once(client, replica_id, chats, lines=event_lines)
    return ChatList(
        replica_id=replica_id, chats=[chat_summary(look.chat, look, replica_id) for look in looks]
    )


@tools.tool(title="Create chat", read_only=False, destructive=False, idempotent=False)
async def create_chat(
    ctx: ToolContext,
    replica_id: ReplicaId,
    provider: Annotated[Literal["claude", "codex", "cursor", "opencode"], Field(description="Coding agent")],
    title: str | None = None,
) -> ChatSummary:
    """Open another chat in a replica, e.g. a second agent for a review. Next: send_replica_message."""
    chat = await client_of(ctx).chats.create(replica_id, provider=provider, title=title)
    return chat_summary(chat)


@tools.tool(title="Delete chat", read_only=False, destructive=True, idempotent=True, confirm=ask_delete_chat)
async def delete_chat(ctx: ToolContext, replica_id: ReplicaId, chat_id: ChatId) -> Done:
    """Delete a chat and its conversation (the replica and its files stay)."""
    client = client_of(ctx)
    item = await client.replicas.status(replica_id)  # its name (a list read: wakes nothing)
    await client.chats.delete(replica_id, chat_id)
    of = f" of replica {item.name} ({replica_id})" if item is not None else ""
    return Done(message=f"Chat {chat_id}{of} deleted.")


@tools.tool(title="Get chat queue", read_only=True)
async def get_chat_queue(
    ctx: ToolContext, replica_id: ReplicaId, chat_id: OptionalChatId = None, wake: Wake = False
) -> QueueView:
    """Messages waiting for a busy chat's agent, position 1 next (ids for edit_chat_queue)."""
    client = client_of(ctx)
    item = await ensure_awake(client, replica_id, wake=may_wake(ctx, wake))
    if chat_id is None:  # the chat send_replica_message's queue modes act on: the working one, else the first
        chosen = chosen_chat(await client.chats.list(replica_id))
        if chosen is None:
            raise ToolError(f"Replica {item.name} ({item.id}) has no chats yet, so nothing is queued.")
        chat_id = chosen.id
    queue = await client.queue.get(replica_id, chat_id)
    return QueueView(
        chat_id=queue.chatId,
        replica=f"{item.name} ({item.id})",
        processing=queue.processing,
        queue=_queued(queue.queue),
    )


@tools.tool(
    title="Edit chat queue", read_only=False, destructive=True, idempotent=True, confirm=ask_edit_queue
)
async def edit_chat_queue(
    ctx: ToolContext,
    replica_id: ReplicaId,
    chat_id: ChatId,
    action: Annotated[
        Literal["remove", "clear", "move"], Field(description="remove one, clear all, move one")
    ],
    message_id: Annotated[Id | None, Field(description="For remove/move: from get_chat_queue")] = None,
    position: Annotated[int | None, Field(ge=1, description="For move: new place, 1 = next")] = None,
) -> QueueView:
    """Change a chat's waiting messages before the agent gets to them: remove one, clear all, or move
    one. The current turn goes on. Returns the queue left."""
    client = client_of(ctx)
    item = await client.replicas.status(replica_id)  # its name (a list read: wakes nothing)
    replica = f"{item.name} ({replica_id})" if item is not None else None
    queue = client.queue
    if action == "clear":
        result = await queue.clear(replica_id, chat_id)
    elif message_id is None:
        raise ToolError(f"action={action!r} needs message_id (see get_chat_queue).")
    elif action == "remove":
        result = await _missing_message_named(queue.remove(replica_id, chat_id, message_id))
    elif position is None:
        raise ToolError("action='move' needs position (1 = handled next).")
    else:
        # Positions count from 1 everywhere a model sees them (send results too); the API counts from 0.
        reorder = queue.reorder(replica_id, chat_id, message_id, position - 1)
        result = await _missing_message_named(reorder)
    return QueueView(chat_id=chat_id, replica=replica, queue=_queued(result.queue))
