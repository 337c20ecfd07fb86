"""Execution logs of a replica's warm and start hooks."""

from __future__ import annotations

from replicas_mcp.client._http import api_path
from replicas_mcp.client._resource import WorkspaceResource
from replicas_mcp.client.models.chats import ReplicaHooks

__all__ = ["Hooks"]


class Hooks(WorkspaceResource):
    """`client.hooks`: what the replica's hooks ran and printed."""

    async def get(self, replica_id: str) -> ReplicaHooks:
        data = await self._workspace_call(replica_id, "GET", api_path("/v1/replica/{}/hooks", replica_id))
        return ReplicaHooks.model_validate(data)
