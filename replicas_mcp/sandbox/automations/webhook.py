"""`POST /v1/automations/webhook/{token}`: fire a custom-webhook automation (`fireCustomWebhookAutomation`).

The token in the URL is the secret, so the endpoint takes no API key (the auth middleware lets exactly this
method and path through). Tokens are unique across the sandbox, so the world looks the token up in every
organization and fires that organization's automation; the replica is launched there and nowhere else.

- The body is parsed as JSON; a body that is not JSON is passed on as text, and anything that is not a JSON
  object is wrapped as `{"raw": ...}` (the store's rule). An empty body is `{}`.
- Bodies over 256 KB (262144 bytes) are a 413 with the error envelope; the size is checked before the token,
  so an oversized body says nothing about which tokens exist.
- An unknown token, a disabled automation and an automation without a custom trigger are the same 404
  (same envelope, same text): nothing tells them apart, nor which organizations exist.
- Success is `202 {"accepted": true}`; the execution is recorded (source `webhook`) and its replica starts.
"""

from __future__ import annotations

import json
import re
from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from replicas_mcp.sandbox.automations.records import ExecutionRecord
from replicas_mcp.sandbox.errors import ApiError

MAX_WEBHOOK_BODY_BYTES = 256 * 1024
WEBHOOK_ROUTE = "/v1/automations/webhook/{token}"
_WEBHOOK_PATH = re.compile(r"/v1/automations/webhook/[^/]+")


class WebhookTokens(Protocol):
    """What this route needs of the sandbox's world (`World`): the organization owning a token fires."""

    def fire_webhook(self, token: str, payload: Any) -> ExecutionRecord | None: ...


def is_public_webhook_request(method: str, path: str) -> bool:
    """True for `POST /v1/automations/webhook/{token}`, the one API request that needs no key."""
    return method == "POST" and _WEBHOOK_PATH.fullmatch(path) is not None


async def _read_capped(request: Request) -> tuple[bytes, int]:
    """The body (only its first MAX_WEBHOOK_BODY_BYTES + 1 bytes are kept) and its full size.

    The rest is read and discarded rather than left unread: closing a socket with unread input resets the
    connection, which could cost the client the 413 itself.
    """
    kept = bytearray()
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if len(kept) <= MAX_WEBHOOK_BODY_BYTES:
            kept += chunk[: MAX_WEBHOOK_BODY_BYTES + 1 - len(kept)]
    return bytes(kept), size


def _payload(body: bytes) -> Any:
    if not body.strip():
        return {}
    text = body.decode("utf-8", errors="replace")
    try:
        return json.loads(text)
    except ValueError:
        return text


async def fire_custom_webhook(request: Request) -> JSONResponse:
    body, size = await _read_capped(request)
    if size > MAX_WEBHOOK_BODY_BYTES:
        raise ApiError(
            413,
            "Payload too large",
            f"Webhook bodies are limited to 256 KB ({MAX_WEBHOOK_BODY_BYTES} bytes); this one has {size}.",
        )
    world: WebhookTokens = request.app.state.world
    execution = world.fire_webhook(request.path_params["token"], _payload(body))
    if execution is None:
        raise ApiError(
            404,
            "Webhook not found",
            "No enabled automation with a custom webhook trigger has this token.",
        )
    return JSONResponse({"accepted": True}, status_code=202)


def automation_webhook_routes() -> list[BaseRoute]:
    return [Route(WEBHOOK_ROUTE, fire_custom_webhook, methods=["POST"])]
