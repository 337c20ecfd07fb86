"""The body the platform POSTs to a replica's `webhook_url`."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from replicas_mcp.client.models._base import ApiModel, OpenStr

__all__ = ["WebhookEvent", "WebhookEventTypeValue"]

WebhookEventTypeValue = Literal["replica.ready", "replica.turn_completed", "replica.deleted", "replica.error"]


class WebhookEvent(ApiModel):
    id: str
    type: OpenStr  # one of WebhookEventTypeValue
    created_at: str | None = None
    replica: dict[str, Any] = Field(default_factory=dict)
    data: dict[str, Any] = Field(default_factory=dict)

    @property
    def error_message(self) -> str | None:
        """A `replica.error` delivery's failure text (the guide: "the payload includes the failure
        message"; its key is not specified, so `data.message`, then `data.error`). None otherwise."""
        if self.type != "replica.error":
            return None
        for key in ("message", "error"):
            value = self.data.get(key)
            if isinstance(value, str) and value.strip():
                return value
        return None
