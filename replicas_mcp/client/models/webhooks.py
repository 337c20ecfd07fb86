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
