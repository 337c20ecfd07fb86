"""`POST /webhooks/replicas`: Replicas webhook deliveries become resource-updated notifications (HTTP mode).

On only when a webhook secret is configured (`--webhook-secret` / `REPLICAS_MCP_WEBHOOK_SECRET`).
Per delivery:

1. the signature (`X-Replicas-Signature`) is checked over the raw body, before parsing, with the client's
   constant-time check: a missing or wrong one gets 401 (the platform does not retry 4xx, and should not);
2. only the signed body is believed: the headers are not signed, so the event's identity is the body's
   `id` (or, without one, the body's SHA-256), and the replica is the body's `replica.id`. A replayed body
   under a fresh `X-Replicas-Event-Id` is still a duplicate, and `X-Replicas-Replica-Id` never decides who
   is notified;
3. the body's `created_at` must lie within `max_age` seconds (default one hour; retries by the platform
   come within minutes) and not more than `MAX_CLOCK_SKEW` in the future: an old delivery captured and
   replayed later, once its id is forgotten, gets 400 (permanent: the platform does not retry a 4xx);
4. the identity is deduplicated: a redelivery of an event already handled gets 200 at once. Identities are
   claimed for the age window (after it, a replay is refused as too old anyway) in a `Claims` store: in
   process by default (at most `max_remembered`, oldest forgotten first), or the fleet's shared store
   (`seen=`, Redis with `--redis-url`), so a redelivery to another instance is a duplicate too;
5. a `replica.error`'s reason is kept in the delegation memory (the fleet's shared one with Redis), and
   subscribers of the replica's resources are notified (`notify(replica_id)`, the watcher's fan-out to
   `subscriptions/listen` streams and legacy sessions), bounded by `deadline` seconds so the answer comes
   well within the platform's 10 s;
6. any failure of ours (notification error or timeout) answers 503, never a 4xx, so the platform retries; the
   event id is then forgotten so the retry is handled.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from replicas_mcp.client.errors import WebhookVerificationError
from replicas_mcp.client.webhooks import parse_webhook
from replicas_mcp.delegation.failures import remember_failure
from replicas_mcp.delegation.memory import PROCESS_MEMORY, Memory
from replicas_mcp.server.log_redaction import register_secret
from replicas_mcp.server.state.shared import Claims, LocalClaims

if TYPE_CHECKING:
    from mcp.server import MCPServer

logger = logging.getLogger(__name__)

WEBHOOK_PATH = "/webhooks/replicas"
DEFAULT_DEADLINE = 8.0
# Deliveries older than this are refused; the platform's own retries arrive within minutes.
DEFAULT_MAX_AGE = 3600.0
MAX_CLOCK_SKEW = 300.0
MAX_BODY_BYTES = 1_000_000

Notify = Callable[[str], Awaitable[None]]


class WebhookReceiver:
    """The route's state and endpoint (`handle`). `notify` tells the subscribers of a replica it changed."""

    def __init__(
        self,
        secret: str,
        notify: Notify,
        *,
        deadline: float = DEFAULT_DEADLINE,
        max_remembered: int = 10_000,
        max_age: float = DEFAULT_MAX_AGE,
        clock: Callable[[], float] = time.time,
        seen: Claims | None = None,
        memory: Memory = PROCESS_MEMORY,
    ) -> None:
        if not secret:
            raise ValueError("the webhook receiver needs a secret")
        register_secret(secret)
        self._secret = secret
        self._notify = notify
        self._deadline = deadline
        self._max_age = max_age
        self._clock = clock
        self.seen: Claims = seen if seen is not None else LocalClaims(max_remembered)
        self._memory = memory  # where a replica.error's reason is kept for reports (shared by a fleet)
        self.handled = 0
        self.duplicates = 0

    async def handle(self, request: Request) -> Response:
        """The route endpoint. Anything unexpected answers 503 too: the platform retries, and a 4xx
        would make it give up on an event we never processed."""
        try:
            return await self._handle(request)
        except Exception:
            logger.exception("webhook delivery: unexpected failure")
            return _answer(503, "temporarily unable to process; retry")

    async def _handle(self, request: Request) -> Response:
        try:
            raw = await _read_body(request)
        except _TooLarge:
            return _answer(413, "body too large")
        except Exception:  # the platform hung up mid-body: it will retry
            logger.warning("webhook delivery: could not read the body")
            return _answer(503, "could not read the body")
        try:
            event = parse_webhook(raw, request.headers, self._secret)
        except WebhookVerificationError as exc:
            logger.info("webhook delivery rejected: %s", exc)
            return _answer(401, "signature missing or invalid")
        stale = self._staleness(event.created_at)
        if stale:
            logger.info("webhook delivery rejected: %s", stale)
            return _answer(400, stale)
        event_id = _signed_identity(raw)
        replica_id = _replica_id(event.replica)
        if not await self.seen.claim(f"webhook:{event_id}", self._max_age + MAX_CLOCK_SKEW):
            self.duplicates += 1
            return _answer(200, "duplicate")
        try:
            if replica_id and event.error_message:  # the report's reason for the error state
                await remember_failure(self._memory, replica_id, event.error_message)
            if replica_id:
                with anyio.fail_after(self._deadline):
                    await self._notify(replica_id)
        except Exception:
            await self.seen.forget(f"webhook:{event_id}")  # let the platform's retry be handled
            logger.exception("webhook event %s (%s): keeping or notifying failed", event_id, event.type)
            return _answer(503, "temporarily unable to process; retry")
        self.handled += 1
        return _answer(200, "ok")

    def _staleness(self, created_at: str | None) -> str | None:
        """Why the delivery is outside the accepted window, or None."""
        if not created_at:
            return "the event has no created_at"
        try:
            moment = datetime.fromisoformat(created_at.replace("Z", "+00:00"))
        except ValueError:
            return "the event's created_at is not a timestamp"
        # The platform's timestamps are UTC; one without an offset is not in this host's local time.
        stamp = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
        age = self._clock() - stamp
        if age > self._max_age:
            return f"the event is older than {self._max_age:.0f} s"
        if age < -MAX_CLOCK_SKEW:
            return "the event's created_at is in the future"
        return None


class _TooLarge(Exception):
    pass


async def _read_body(request: Request) -> bytes:
    """The raw body, read in chunks and abandoned past MAX_BODY_BYTES (never buffered whole)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def _signed_identity(raw: bytes) -> str:
    """The event's identity from the signed body alone: its `id`, else the digest of the whole body."""
    payload = json.loads(raw)
    body_id = payload.get("id") if isinstance(payload, dict) else None
    if isinstance(body_id, str) and body_id:
        return "id:" + body_id
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def _replica_id(replica: dict[str, Any]) -> str | None:
    value = replica.get("id") if isinstance(replica, dict) else None
    return str(value) if value else None


def _answer(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"ok": status < 300, "detail": detail}, status_code=status)


def register_webhook_receiver(
    server: MCPServer[Any], secret: str, notify: Notify, **options: Any
) -> WebhookReceiver:
    """Add `POST /webhooks/replicas` to the server's HTTP app (custom routes are outside MCP auth: deliveries
    authenticate by signature). Call before building the HTTP app."""
    receiver = WebhookReceiver(secret, notify, **options)
    server.custom_route(WEBHOOK_PATH, methods=["POST"])(receiver.handle)
    return receiver
