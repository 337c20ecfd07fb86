"""One look at a replica's chats through REST, with the questions its agent is paused on.

    snapshot = await read_chats(client, replica_id)   # None while the engine cannot be asked

REST chats say whether each chat is processing, not whether it waits for input (`awaitingInput` exists
only in the event stream's chat summaries). A chat paused on a question keeps `processing` true, so only
processing chats can be waiting: their history tail is read for a pending interactive tool call
(the client's `pending_interaction`), and their queue for the messages still waiting (a chat that is not
processing has none). Idle chats cost nothing more; a replica with no processing chat costs one request.
A call this process has already answered (`answers`) is not taken for a question while the history lags.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from replicas_mcp.client.errors import ConflictError, NotFoundError
from replicas_mcp.client.models import pending_interaction
from replicas_mcp.delegation.answers import ANSWERS
from replicas_mcp.delegation.phase import ChatFacts
from replicas_mcp.delegation.questions import question_text

if TYPE_CHECKING:
    from replicas_mcp.client import ReplicasClient
    from replicas_mcp.client.models import HistoryEvent, ReplicaChat

PENDING_TAIL = 20  # newest history events searched for a pending question (the agent stops right after)


@dataclass
class ChatsSnapshot:
    chats: list[ReplicaChat]
    pending: dict[str, str | None] = field(default_factory=dict)  # processing chat id -> its question
    queued: dict[str, list[str]] = field(default_factory=dict)  # processing chat id -> queued message ids

    def facts(self) -> dict[str, ChatFacts]:
        """Per chat id, what the snapshot shows."""
        return {
            chat.id: ChatFacts(
                processing=chat.processing,
                awaiting_input=self.pending.get(chat.id) is not None,
                queued=len(self.queued.get(chat.id, ())),
                question=self.pending.get(chat.id),
            )
            for chat in self.chats
        }

    def question(self, chat_id: str) -> str | None:
        return self.pending.get(chat_id)

    @property
    def questions(self) -> list[str]:
        return [text for text in self.pending.values() if text is not None]


def question_in_history(
    events: Sequence[HistoryEvent], *, replica_id: str | None = None, chat_id: str | None = None
) -> str | None:
    """The question a chat is paused on, from its history (oldest first): None when nothing is pending,
    or (given the chat) when this process has answered that very call already."""
    pending = pending_interaction(events)
    if pending is None:
        return None
    if replica_id is not None and chat_id is not None:
        if ANSWERS.is_answered(replica_id, chat_id, pending.call_id):
            return None  # answered; the engine has not written the call's result yet
        ANSWERS.saw(replica_id, chat_id, pending.call_id)
    return question_text(pending.tool, pending.input)


async def pending_of(client: ReplicasClient, replica_id: str, chat_id: str) -> str | None:
    """The question a processing chat is paused on, from its history tail (None: none)."""
    page = await client.history.read(replica_id, chat_id=chat_id, limit=PENDING_TAIL)
    return question_in_history(page.events, replica_id=replica_id, chat_id=chat_id)


async def read_chats(client: ReplicasClient, replica_id: str, *, queues: bool = True) -> ChatsSnapshot | None:
    """The chats, their pending questions and (with `queues`) their queues; None when the workspace cannot
    be asked (asleep, error, gone: the list record says which). Call it for an awake replica only: against
    the contract, reading a sleeping workspace's chats wakes it (`waking: true`)."""
    try:
        chats = await client.chats.list(replica_id)
    except (ConflictError, NotFoundError):
        return None
    if chats.waking:
        return None  # it was asleep after all (the contract's read woke it): the list record says so soon
    snapshot = ChatsSnapshot(chats=list(chats))
    for chat in chats:  # one after the other: usually one chat works at a time, and errors stay plain
        if not chat.processing:
            continue
        try:
            snapshot.pending[chat.id] = await pending_of(client, replica_id, chat.id)
            if queues:
                queue = await client.queue.get(replica_id, chat.id)
                snapshot.queued[chat.id] = [message.id for message in queue.queue]
        except (ConflictError, NotFoundError):
            snapshot.pending.setdefault(chat.id, None)  # stopped meanwhile: the next look tells
    return snapshot
