"""Verify and parse the webhook deliveries the platform POSTs to a replica's `webhook_url`.

The `X-Replicas-Signature` header is `sha256=<hex HMAC-SHA256(secret, raw body)>`; it must be checked
over the raw bytes as received (before any JSON parsing), with a constant-time comparison.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping

from pydantic import ValidationError

from replicas_mcp.client.errors import WebhookVerificationError
from replicas_mcp.client.models.webhooks import WebhookEvent

__all__ = ["SIGNATURE_HEADER", "parse_webhook", "sign_body", "verify_signature"]

SIGNATURE_HEADER = "X-Replicas-Signature"
_PREFIX = "sha256="


def sign_body(raw_body: bytes, secret: str) -> str:
    """The signature header value the platform sends for this body and secret."""
    digest = hmac.new(secret.encode("utf-8"), raw_body, hashlib.sha256).hexdigest()
    return f"{_PREFIX}{digest}"


def verify_signature(raw_body: bytes, signature_header: str | None, secret: str) -> bool:
    """True if the header is the body's HMAC-SHA256 under `secret` (constant-time compare)."""
    if not signature_header or not secret:
        return False
    expected = sign_body(raw_body, secret)
    return hmac.compare_digest(signature_header.strip().encode("utf-8"), expected.encode("utf-8"))


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def parse_webhook(raw_body: bytes, headers: Mapping[str, str], secret: str | None) -> WebhookEvent:
    """The delivered event, after checking its signature when a secret is configured.

    Raises `WebhookVerificationError` for a missing or wrong signature, or a body that is not an event.
    With `secret=None` the signature is not checked (only for endpoints registered without a secret).
    """
    if secret is not None and not verify_signature(raw_body, _header(headers, SIGNATURE_HEADER), secret):
        raise WebhookVerificationError(f"webhook {SIGNATURE_HEADER} is missing or does not match the body")
    try:
        payload = json.loads(raw_body)
    except ValueError:
        raise WebhookVerificationError("webhook body is not JSON") from None
    if not isinstance(payload, dict):
        raise WebhookVerificationError("webhook body is not a JSON object")
    if "type" not in payload and (event_type := _header(headers, "X-Replicas-Event")):
        payload["type"] = event_type
    if "id" not in payload and (event_id := _header(headers, "X-Replicas-Event-Id")):
        payload["id"] = event_id
    try:
        return WebhookEvent.model_validate(payload)
    except ValidationError as exc:
        fields = ", ".join(".".join(str(part) for part in error["loc"]) for error in exc.errors())
        raise WebhookVerificationError(f"webhook body is not an event (bad fields: {fields})") from None
