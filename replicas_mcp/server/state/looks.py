"""Each chat's look (pending question, who wrote last, the last message), remembered per caller.

A detail view (`get_replica`, `list_chats`, the resource `replicas://replicas/{id}`) shows, per chat, what
its history tail says: one history read per chat. The look is kept in the caller's knowledge
(`KnowledgeStore.chat_looks`) with the chat state it was read at (`updated_at` and `processing`, from the
details or the chats list the view reads anyway); the next view, by any of the three, reuses it while the
chat is in that same state and reads the tails of changed chats only. So a replica already looked at costs
its lookup and its details, however many chats it has.

Acting on a replica through this server (a message, a wake, a delete) drops its looks: an answer sent to
a question must never show the question again, even from a chat whose `updated_at` lags.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from replicas_mcp.client.models import ReplicaChat
from replicas_mcp.delegation.asking import ChatLook, LineReader, look_at_chats
from replicas_mcp.server.state.knowledge import LOOKED_CHATS, ChatLookRecord
from replicas_mcp.server.state.view import KnowingClient

if TYPE_CHECKING:
    from replicas_mcp.client import ReplicasClient

__all__ = ["look_at_chats_once"]

LOOK_TEXT = 1000  # characters of a question or last message kept (views show 200)


async def look_at_chats_once(
    client: ReplicasClient, replica_id: str, chats: Sequence[ReplicaChat], *, lines: LineReader
) -> list[ChatLook]:
    """`look_at_chats`, reading only the chats whose state changed since this caller last looked."""
    if not isinstance(client, KnowingClient):
        return await look_at_chats(client, replica_id, chats, lines=lines)
    store, caller = client.directory.store, client.caller
    known = {
        chat_id: _look(chat_id, record)
        for chat_id, record in (await store.chat_looks(caller, replica_id)).items()
    }
    looks = await look_at_chats(client, replica_id, chats, lines=lines, known=known)
    kept = {look.chat.id: _record(look) for look in looks[:LOOKED_CHATS] if look.read}
    if kept != {chat_id: _record(look) for chat_id, look in known.items()}:
        await store.remember_chat_looks(caller, replica_id, kept)
    return looks


def _record(look: ChatLook) -> dict[str, Any]:
    return {
        "updated_at": look.chat.updated_at,
        "processing": look.chat.processing,
        "question": look.question[:LOOK_TEXT] if look.question else None,
        "call_id": look.call_id,
        "last_from": look.last_from,
        "last_text": look.last_text[:LOOK_TEXT] if look.last_text else None,
    }


def _look(chat_id: str, record: ChatLookRecord) -> ChatLook:
    chat = ReplicaChat(
        id=chat_id, updated_at=_text(record, "updated_at"), processing=bool(record.get("processing"))
    )
    last_from = record.get("last_from")
    return ChatLook(
        chat,
        question=_text(record, "question"),
        last_from=last_from if last_from in ("user", "agent") else None,
        last_text=_text(record, "last_text"),
        call_id=_text(record, "call_id"),
    )


def _text(record: Mapping[str, Any], key: str) -> str | None:
    value = record.get(key)
    return value if isinstance(value, str) else None
