"""Execution logs of a replica's warm and start hooks."""

from __future__ import annotations

from replicas_mcp.client._http import HttpCore, api_path
from replicas_mcp.client.models.chats import ReplicaHooks

__all__ = ["Hooks"]


class Hooks:
    """`client.hooks`: what the replica's hooks ran and printed."""

    def __init__(self, http: HttpCore) -> None:
        self._http = http

    async def get(self, replica_id: str) -> ReplicaHooks:
        data = await self._http.request_json("GET", api_path("/v1/replica/{}/hooks", replica_id))
        return ReplicaHooks.model_validate(data)
