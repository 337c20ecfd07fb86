"""Which replicas wait for an answer, and what each chat last said: for lists and detail views.

The contract shows "waiting for input" on REST only through a processing chat whose history ends in a
pending interactive tool call (see `phase`). That bounds the search: only `active` replicas with a
processing chat can be waiting, so a list looks at those alone.

- `asking(client, items)`: replica id -> the question it is paused on, for the active replicas among
  `items` (one chats request per active replica, one history request per processing chat; queues are
  not read, so an answer already queued behind a question still shows the question).
- `look_at_chats(client, replica_id, chats, lines=..., known=...)`: per chat, the pending question
  (processing chats) and who wrote its last message, user or agent, from its history tail (one request
  per chat, except for chats in `known`: looks taken earlier at the same `updated_at` and `processing`,
  reused as they are; `server.state.looks` keeps them per caller).

Reads never wake a replica: callers pass awake replicas only (reading a sleeping workspace's chats or
history wakes it, against the contract).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

import anyio

from replicas_mcp.client.errors import ReplicasError
from replicas_mcp.client.models import pending_interaction
from replicas_mcp.delegation.answers import ANSWERS
from replicas_mcp.delegation.questions import question_text
from replicas_mcp.delegation.snapshot import PENDING_TAIL, read_chats

if TYPE_CHECKING:
    from replicas_mcp.client import ReplicasClient
    from replicas_mcp.client.models import HistoryEvent, ReplicaChat, ReplicaListItem

LineReader = Callable[[str, Mapping[str, Any]], list[tuple[str, str]]]
Author = Literal["user", "agent"]
CONCURRENCY = 8  # replicas looked at at once by a list


async def asking(
    client: ReplicasClient, items: Iterable[ReplicaListItem], *, concurrency: int = CONCURRENCY
) -> dict[str, str]:
    """Replica id -> the question it waits on, for the active replicas among `items` that are asking.
    A replica that cannot be read now (it stopped, a transient error) is left out."""
    found: dict[str, str] = {}
    limiter = anyio.Semaphore(concurrency)

    async def one(replica_id: str) -> None:
        async with limiter:
            try:
                snapshot = await read_chats(client, replica_id, queues=False)  # a list shows questions only
            except ReplicasError:
                return  # one unreadable replica must not cost the whole list
        questions = snapshot.questions if snapshot is not None else []
        if questions:
            found[replica_id] = questions[0]

    async with anyio.create_task_group() as group:
        for item in items:
            if item.status == "active":
                group.start_soon(one, item.id)
    return found


@dataclass(frozen=True)
class ChatLook:
    chat: ReplicaChat
    question: str | None = None  # what a processing chat is paused on
    last_from: Author | None = None  # who wrote the newest message in its history
    last_text: str | None = None
    call_id: str | None = None  # the pending interactive call `question` comes from
    read: bool = True  # False: its history could not be read now (nothing to remember)

    def same_chat(self, chat: ReplicaChat) -> bool:
        """`chat` is this look's chat as it was: its history is what this look read (a new message, an
        answer or a question changes the chat's `updated_at`; a turn starting or ending, `processing`)."""
        return (
            self.read
            and chat.updated_at is not None
            and (chat.updated_at, chat.processing) == (self.chat.updated_at, self.chat.processing)
        )

    def again(self, replica_id: str) -> ChatLook:
        """This look reused: a question this process has answered meanwhile is no longer pending."""
        if self.call_id is None:
            return self
        if ANSWERS.is_answered(replica_id, self.chat.id, self.call_id):
            return replace(self, question=None, call_id=None)  # the engine has not written the result yet
        ANSWERS.saw(replica_id, self.chat.id, self.call_id)
        return self


def last_message(events: Sequence[HistoryEvent], lines: LineReader) -> tuple[Author, str] | None:
    """The newest message the user or the agent wrote in `events` (tool calls and results aside)."""
    for event in reversed(events):
        for role, text in reversed(lines(event.type, event.payload)):
            if role in ("user", "agent") and text:
                return ("user" if role == "user" else "agent"), text
    return None


async def look_at_chats(
    client: ReplicasClient,
    replica_id: str,
    chats: Sequence[ReplicaChat],
    *,
    lines: LineReader,
    known: Mapping[str, ChatLook] | None = None,
) -> list[ChatLook]:
    """Each chat with its pending question and its last message (a chat whose history cannot be read
    now is shown without them). A chat whose look in `known` is of the same chat state is not read."""
    looks: list[ChatLook] = []
    for chat in chats:
        earlier = (known or {}).get(chat.id)
        if earlier is not None and earlier.same_chat(chat):
            looks.append(replace(earlier, chat=chat).again(replica_id))
            continue
        try:
            page = await client.history.read(replica_id, chat_id=chat.id, limit=PENDING_TAIL)
        except ReplicasError:
            looks.append(ChatLook(chat, read=False))
            continue
        last = last_message(page.events, lines)
        pending = pending_interaction(page.events) if chat.processing else None
        look = ChatLook(
            chat,
            question=question_text(pending.tool, pending.input) if pending else None,
            last_from=last[0] if last else None,
            last_text=last[1] if last else None,
            call_id=pending.call_id if pending else None,
        )
        looks.append(look.again(replica_id))
    return looks
