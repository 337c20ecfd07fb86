"""Webhook signature verification and parsing."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from replicas_mcp.client.errors import WebhookVerificationError
from replicas_mcp.client.webhooks import parse_webhook, sign_body, verify_signature

SECRET = "whsec_test_secret_0123456789"
BODY = json.dumps(
    {
        "id": "wh_1",
        "type": "replica.turn_completed",
        "created_at": "2026-05-26T07:31:12.000Z",
        "replica": {"id": "r1", "name": "fix-auth-bug", "status": "active"},
        "data": {"pr_urls": ["https://github.com/o/r/pull/482"]},
    }
).encode()


def test_signature_matches_the_documented_scheme() -> None:
    expected = "sha256=" + hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()
    assert sign_body(BODY, SECRET) == expected
    assert verify_signature(BODY, expected, SECRET)


@pytest.mark.parametrize(
    "header",
    [None, "", "sha256=", "sha256=00", sign_body(BODY, "whsec_other"), sign_body(BODY + b" ", SECRET)],
)
def test_bad_signatures_are_rejected(header: str | None) -> None:
    assert not verify_signature(BODY, header, SECRET)


def test_empty_secret_never_verifies() -> None:
    assert not verify_signature(BODY, sign_body(BODY, ""), "")


@given(st.binary(max_size=256), st.text(min_size=1, max_size=40))
def test_any_body_roundtrips(body: bytes, secret: str) -> None:
    assert verify_signature(body, sign_body(body, secret), secret)
    assert not verify_signature(body + b"x", sign_body(body, secret), secret)


def test_parse_verified_event() -> None:
    event = parse_webhook(BODY, {"x-replicas-signature": sign_body(BODY, SECRET)}, SECRET)
    assert event.type == "replica.turn_completed"
    assert event.replica["name"] == "fix-auth-bug"
    assert event.data["pr_urls"] == ["https://github.com/o/r/pull/482"]


def test_parse_rejects_a_wrong_signature_without_echoing_the_secret() -> None:
    with pytest.raises(WebhookVerificationError) as info:
        parse_webhook(BODY, {"X-Replicas-Signature": "sha256=bad"}, SECRET)
    assert SECRET not in str(info.value)


def test_parse_without_secret_skips_verification_and_fills_from_headers() -> None:
    body = json.dumps({"replica": {"id": "r1"}, "data": {}}).encode()
    event = parse_webhook(body, {"X-Replicas-Event": "replica.deleted", "X-Replicas-Event-Id": "wh_9"}, None)
    assert (event.id, event.type) == ("wh_9", "replica.deleted")


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'{"type": "x"}'])
def test_parse_rejects_non_events(body: bytes) -> None:
    with pytest.raises(WebhookVerificationError):
        parse_webhook(body, {"X-Replicas-Signature": sign_body(body, SECRET)}, SECRET)


def test_unknown_event_types_and_fields_are_kept() -> None:
    body = json.dumps({"id": "wh_2", "type": "replica.future", "extra": {"k": 1}}).encode()
    event = parse_webhook(body, {}, None)
    assert event.type == "replica.future"
    assert event.model_extra == {"extra": {"k": 1}}
