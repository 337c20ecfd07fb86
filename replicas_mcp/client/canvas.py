"""Files the agent drops into the replica's Canvas (~/.replicas/canvas/)."""

from __future__ import annotations

from replicas_mcp.client._envelope import items
from replicas_mcp.client._http import api_path
from replicas_mcp.client._resource import WorkspaceResource
from replicas_mcp.client.models.chats import CanvasContent, CanvasItem

__all__ = ["Canvas"]


class Canvas(WorkspaceResource):
    """`client.canvas`: list Canvas items and read one (text as `content`, binary as `base64`)."""

    async def list(self, replica_id: str) -> list[CanvasItem]:
        data = await self._workspace_call(replica_id, "GET", api_path("/v1/replica/{}/canvas", replica_id))
        return [CanvasItem.model_validate(item) for item in items(data, "items")]

    async def get(self, replica_id: str, filename: str) -> CanvasContent:
        data = await self._workspace_call(
            replica_id, "GET", api_path("/v1/replica/{}/canvas/{}", replica_id, filename)
        )
        return CanvasContent.model_validate(data)
