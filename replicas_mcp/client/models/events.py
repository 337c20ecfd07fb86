"""Events from a replica's engine stream (GET /v1/replica/{id}/events)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from replicas_mcp.client.models._base import ApiModel, OpenStr

__all__ = ["EngineEvent", "EngineEventTypeValue"]

EngineEventTypeValue = Literal[
    "engine.ready",
    "engine.status.changed",
    "repo.discovered",
    "repo.status.changed",
    "chat.created",
    "chat.updated",
    "chat.deleted",
    "chat.turn.accepted",
    "chat.turn.started",
    "chat.turn.delta",
    "chat.turn.completed",
    "chat.interrupted",
    "hooks.started",
    "hooks.progress",
    "hooks.completed",
    "hooks.failed",
    "hooks.status",
    "preview.changed",
    "error",
]


class EngineEvent(ApiModel):
    """One engine event: a common envelope; `type` says what `payload` holds (open set)."""

    id: str = ""
    ts: str | None = None
    type: OpenStr  # one of EngineEventTypeValue, or newer types
    payload: dict[str, Any] = Field(default_factory=dict)

    @property
    def chat_id(self) -> str | None:
        """The chat this event concerns: `payload.chatId`, else `payload.chat.id`, else None."""
        direct = self.payload.get("chatId")
        if isinstance(direct, str):
            return direct
        chat = self.payload.get("chat")
        if isinstance(chat, dict) and isinstance(chat.get("id"), str):
            return str(chat["id"])
        return None
