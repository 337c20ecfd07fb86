"""Sending a message through a chat's queue (`send_replica_message`'s modes), e.g. to correct a busy agent.

- `append`: send; a busy agent gets it after what is already queued.
- `next`: send, then move it to the front of the queue: it runs as soon as the current turn ends.
- `replace_queue`: clear the queue, then send: it is the only thing left waiting.

The chat is `chat_id` when given, else the one that is working (the one being corrected), else the first.
Queue operations need the workspace awake: on a sleeping replica the message is sent (which wakes it)
and the queue is left as it was, with a note.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from replicas_mcp.client.errors import ConflictError
from replicas_mcp.delegation.answers import ANSWERS

if TYPE_CHECKING:
    from collections.abc import Sequence

    from replicas_mcp.client import ReplicasClient
    from replicas_mcp.client.models import ReplicaChat

SteerMode = Literal["append", "next", "replace_queue"]


@dataclass
class Steered:
    status: str  # sent | queued | waking
    chat_id: str | None
    message_id: str | None
    position: int | None  # 1-based place in the queue when queued
    removed: int = 0  # queued messages dropped by replace_queue
    note: str | None = None


async def _target_chat(client: ReplicasClient, replica_id: str) -> str | None:
    try:
        chats = await client.chats.list(replica_id)
    except ConflictError:
        return None  # asleep: the send wakes it and picks its main chat
    chosen = chosen_chat(chats)
    return chosen.id if chosen else None


def chosen_chat(chats: Sequence[ReplicaChat]) -> ReplicaChat | None:
    """The chat a message without chat_id goes to: the one working (being corrected), else the first."""
    working = [chat for chat in chats if chat.processing]
    return working[0] if len(working) == 1 else (chats[0] if chats else None)


async def steer(
    client: ReplicasClient,
    replica_id: str,
    message: str,
    *,
    mode: SteerMode,
    chat_id: str | None = None,
    thinking_level: str | None = None,
) -> Steered:
    target = chat_id
    if mode != "append" and target is None:
        target = await _target_chat(client, replica_id)
    removed = 0
    note = None
    if mode == "replace_queue":
        if target is None:
            note = "The replica was asleep, so its queue was left as it was; the message was sent."
        else:
            try:
                removed = len((await client.queue.get(replica_id, target)).queue)
                if removed:
                    await client.queue.clear(replica_id, target)
            except ConflictError:
                removed = 0
                note = "The queue could not be cleared (the workspace stopped); the message was sent."
    sent = await client.replicas.send_message(
        replica_id, message, chat_id=target, thinking_level=thinking_level
    )
    if sent.chat_id:
        ANSWERS.answered(replica_id, sent.chat_id)  # whatever it was paused on, this message answers
    result = Steered(
        status=sent.status,
        chat_id=sent.chat_id,
        message_id=sent.message_id,
        position=sent.position if sent.status == "queued" else None,
        removed=removed,
        note=note,
    )
    behind_others = sent.status == "queued" and (sent.position or 0) > 1
    if mode == "next" and behind_others and sent.chat_id and sent.message_id:
        try:
            await client.queue.reorder(replica_id, sent.chat_id, sent.message_id, 0)
            result.position = 1
        except ConflictError:
            result.note = "Queued, but it could not be moved to the front (the workspace stopped)."
    return result
