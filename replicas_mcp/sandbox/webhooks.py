"""Webhook deliveries for replicas created with `webhook_url`, as the guide documents them.

Each event is POSTed as JSON with X-Replicas-Event, -Event-Id, -Delivery, -Replica-Id and, when a secret
is set, `X-Replicas-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>`. Network errors, 5xx and 429
are retried up to 3 times with exponential backoff (scaled by the sandbox clock); other 4xx are permanent.
Secrets and signatures are never logged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass, field
from typing import Any

import httpx2

from replicas_mcp.sandbox.clock import Clock
from replicas_mcp.sandbox.ids import IdFactory
from replicas_mcp.sandbox.runtime import TaskRunner

logger = logging.getLogger("replicas_mcp.sandbox.webhooks")

MAX_RETRIES = 3
BASE_BACKOFF_SECONDS = 1.0
DELIVERY_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class WebhookTarget:
    url: str
    secret: str | None = None

    def __repr__(self) -> str:  # never show the secret
        return f"WebhookTarget(url={self.url!r}, secret={'***' if self.secret else None})"


@dataclass
class Delivery:
    """One event's delivery, with every attempt's outcome (status code or error name)."""

    event_id: str
    delivery_id: str
    event_type: str
    replica_id: str
    url: str
    attempts: list[str] = field(default_factory=list)
    delivered: bool = False
    finished: bool = False


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _retryable(status: int) -> bool:
    return status == 429 or status >= 500


class WebhookDispatcher:
    def __init__(self, *, clock: Clock, ids: IdFactory, runner: TaskRunner) -> None:
        self._clock = clock
        self._ids = ids
        self._runner = runner
        self.deliveries: list[Delivery] = []
        self._client: httpx2.AsyncClient | None = None

    def emit(
        self, target: WebhookTarget, event_type: str, replica: dict[str, Any], data: dict[str, Any]
    ) -> Delivery:
        """Queue one event for delivery in the background and return its record."""
        event = {
            "id": self._ids.token("wh_", 16),
            "type": event_type,
            "created_at": Clock.iso(),
            "replica": replica,
            "data": data,
        }
        delivery = Delivery(
            event_id=str(event["id"]),
            delivery_id=self._ids.token("dlv_", 16),
            event_type=event_type,
            replica_id=str(replica["id"]),
            url=target.url,
        )
        self.deliveries.append(delivery)
        body = json.dumps(event, separators=(",", ":")).encode()
        self._runner.spawn(self._deliver(target, delivery, body), name=f"webhook {delivery.delivery_id}")
        return delivery

    async def _deliver(self, target: WebhookTarget, delivery: Delivery, body: bytes) -> None:
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "replicas-sandbox-webhooks/1",
            "X-Replicas-Event": delivery.event_type,
            "X-Replicas-Event-Id": delivery.event_id,
            "X-Replicas-Delivery": delivery.delivery_id,
            "X-Replicas-Replica-Id": delivery.replica_id,
        }
        if target.secret:
            headers["X-Replicas-Signature"] = sign(target.secret, body)
        try:
            for attempt in range(MAX_RETRIES + 1):
                if attempt:
                    await self._clock.sleep(BASE_BACKOFF_SECONDS * 2 ** (attempt - 1))
                try:
                    response = await self._http().post(target.url, content=body, headers=headers)
                except httpx2.HTTPError as exc:
                    delivery.attempts.append(type(exc).__name__)
                    logger.info(
                        "webhook %s to %s failed: %s", delivery.event_type, target.url, type(exc).__name__
                    )
                    continue
                delivery.attempts.append(str(response.status_code))
                if response.is_success:
                    delivery.delivered = True
                    return
                if not _retryable(response.status_code):
                    logger.info(
                        "webhook %s to %s refused with %s",
                        delivery.event_type,
                        target.url,
                        response.status_code,
                    )
                    return
        finally:
            delivery.finished = True

    def _http(self) -> httpx2.AsyncClient:
        if self._client is None:
            self._client = httpx2.AsyncClient(timeout=DELIVERY_TIMEOUT_SECONDS, follow_redirects=False)
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
