"""The queue of messages waiting for a busy chat's agent."""

from __future__ import annotations

from replicas_mcp.client._http import api_path
from replicas_mcp.client._resource import WorkspaceResource
from replicas_mcp.client.models.chats import ChatQueue, QueueMutation

__all__ = ["Queue"]


class Queue(WorkspaceResource):
    """`client.queue`: read, trim, clear and reorder a chat's pending messages."""

    async def get(self, replica_id: str, chat_id: str) -> ChatQueue:
        data = await self._workspace_call(
            replica_id, "GET", api_path("/v1/replica/{}/chats/{}/queue", replica_id, chat_id)
        )
        return ChatQueue.model_validate(data)

    async def remove(self, replica_id: str, chat_id: str, message_id: str) -> QueueMutation:
        data = await self._workspace_call(
            replica_id,
            "DELETE",
            api_path("/v1/replica/{}/chats/{}/queue/{}", replica_id, chat_id, message_id),
        )
        return QueueMutation.model_validate(data)

    async def clear(self, replica_id: str, chat_id: str) -> QueueMutation:
        data = await self._workspace_call(
            replica_id, "DELETE", api_path("/v1/replica/{}/chats/{}/queue", replica_id, chat_id)
        )
        return QueueMutation.model_validate(data)

    async def reorder(self, replica_id: str, chat_id: str, message_id: str, position: int) -> QueueMutation:
        data = await self._workspace_call(
            replica_id,
            "PATCH",
            api_path("/v1/replica/{}/chats/{}/queue/reorder", replica_id, chat_id),
            json={"messageId": message_id, "position": position},
        )
        return QueueMutation.model_validate(data)
