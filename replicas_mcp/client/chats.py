"""Chats of a replica: one per coding-agent session, and whether each one's agent waits for the user."""

from __future__ import annotations

import builtins

from replicas_mcp.client._envelope import items, unwrap
from replicas_mcp.client._fields import UNSET, Unset, request_body
from replicas_mcp.client._http import api_path
from replicas_mcp.client._resource import WorkspaceResource
from replicas_mcp.client.models.chats import ChatList, HistoryPage, ReplicaChat
from replicas_mcp.client.models.interactions import ChatState, pending_interaction

__all__ = ["Chats"]

# How many of a chat's newest history events are read to find a pending interactive tool call: the call
# is the agent's last act before it pauses, so it sits among the newest few events.
PENDING_WINDOW = 20


class Chats(WorkspaceResource):
    """`client.chats`: list, open and delete a replica's chats; `states` says who waits for input."""

    async def list(self, replica_id: str) -> ChatList:
        """The chats; `.waking` is True when the workspace was asleep and this read woke it (no chats)."""
        data = await self._workspace_call(replica_id, "GET", api_path("/v1/replica/{}/chats", replica_id))
        waking = bool(data.get("waking")) if isinstance(data, dict) else False
        return ChatList((ReplicaChat.model_validate(chat) for chat in items(data, "chats")), waking=waking)

    async def states(
        self, replica_id: str, *, include_idle: bool = False, window: int = PENDING_WINDOW
    ) -> builtins.list[ChatState]:
        """Each chat with `awaiting_input` and the pending question, from contract fields only.

        The REST chat list has no awaiting-input flag (the event stream's chat summaries do, for chats
        that change while it is watched). Per the contract, a waiting agent's chat keeps
        `processing: true` and its history shows the unresolved interactive tool call (AskUserQuestion,
        ExitPlanMode). So this reads the chat list, then the newest `window` history events of each
        processing chat (`include_idle=True`: of every chat): 1 + (processing chats) requests.
        Like every engine-proxy read, it wakes a sleeping workspace (contract) or raises
        `WorkspaceSleepingError` (guide); check the status first if that matters.
        """
        chats = await self.list(replica_id)
        states: builtins.list[ChatState] = []
        for chat in chats:
            if not (chat.processing or include_idle):
                states.append(ChatState(chat=chat))
                continue
            page = await self._history_tail(replica_id, chat.id, window)
            pending = pending_interaction(page.events)
            states.append(ChatState(chat=chat, awaiting_input=pending is not None, pending=pending))
        return states

    async def _history_tail(self, replica_id: str, chat_id: str, window: int) -> HistoryPage:
        data = await self._workspace_call(
            replica_id,
            "GET",
            api_path("/v1/replica/{}/history", replica_id),
            params={"chat_id": chat_id, "limit": window, "offset": 0},
        )
        return HistoryPage.model_validate(data)

    async def create(
        self, replica_id: str, *, provider: str, title: str | Unset | None = UNSET
    ) -> ReplicaChat:
        body = request_body(provider=provider, title=title)
        data = await self._workspace_call(
            replica_id, "POST", api_path("/v1/replica/{}/chats", replica_id), json=body
        )
        return ReplicaChat.model_validate(unwrap(data, "chat"))

    async def delete(self, replica_id: str, chat_id: str) -> None:
        await self._workspace_call(
            replica_id, "DELETE", api_path("/v1/replica/{}/chats/{}", replica_id, chat_id)
        )
