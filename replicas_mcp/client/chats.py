"""Chats of a replica: one per coding-agent session."""

from __future__ import annotations

from typing import Any

from replicas_mcp.client._envelope import items, unwrap
from replicas_mcp.client._http import HttpCore, api_path
from replicas_mcp.client.models.chats import ReplicaChat

__all__ = ["Chats"]


class Chats:
    """`client.chats`: list, open and delete a replica's chats."""

    def __init__(self, http: HttpCore) -> None:
        self._http = http

    async def list(self, replica_id: str) -> list[ReplicaChat]:
        data = await self._http.request_json("GET", api_path("/v1/replica/{}/chats", replica_id))
        return [ReplicaChat.model_validate(chat) for chat in items(data, "chats")]

    async def create(self, replica_id: str, *, provider: str, title: str | None = None) -> ReplicaChat:
        body: dict[str, Any] = {"provider": provider}
        if title is not None:
            body["title"] = title
        data = await self._http.request_json("POST", api_path("/v1/replica/{}/chats", replica_id), json=body)
        return ReplicaChat.model_validate(unwrap(data, "chat"))

    async def delete(self, replica_id: str, chat_id: str) -> None:
        await self._http.request_json("DELETE", api_path("/v1/replica/{}/chats/{}", replica_id, chat_id))
