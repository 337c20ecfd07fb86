"""`POST /webhooks/replicas`: signature over the raw body, dedupe by event id (bounded), fast answers,
503 (never a 4xx) on our own failures, and resource-updated notifications for subscribers."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, cast

import anyio
import httpx2
import pytest
from mcp.client.subscriptions import ResourceUpdated
from starlette.applications import Starlette
from starlette.routing import Route

from replicas_mcp.client import ReplicasClient
from replicas_mcp.client.webhooks import sign_body
from replicas_mcp.sandbox.serve import RunningSandbox, serving
from replicas_mcp.sandbox.world import DEFAULT_ORG_KEY
from replicas_mcp.server.state.shared import LocalClaims
from replicas_mcp.server.webhook_receiver import WEBHOOK_PATH, Notify, WebhookReceiver

from .http_helpers import http_server, mcp_client

SECRET = "whsec_" + "9f8e7d6c" * 4


def _iso(seconds_ago: float = 0.0) -> str:
    return datetime.fromtimestamp(time.time() - seconds_ago, UTC).isoformat().replace("+00:00", "Z")


def event(
    event_id: str | None,
    replica_id: str | None = "r-1",
    kind: str = "replica.turn_completed",
    seconds_ago: float = 1.0,
) -> bytes:
    body: dict[str, Any] = {"type": kind, "created_at": _iso(seconds_ago)}
    if event_id is not None:
        body["id"] = event_id
    if replica_id is not None:
        body["replica"] = {"id": replica_id}
    return json.dumps(body).encode()


def signed(body: bytes, event_id: str | None = None, secret: str = SECRET) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "X-Replicas-Signature": sign_body(body, secret)}
    if event_id:
        headers["X-Replicas-Event-Id"] = event_id
    return headers


@asynccontextmanager
async def receiver_at(notify: Notify, **options: Any) -> AsyncIterator[tuple[str, WebhookReceiver]]:
    receiver = WebhookReceiver(SECRET, notify, **options)
    app = Starlette(routes=[Route(WEBHOOK_PATH, receiver.handle, methods=["POST"])])
    async with serving(app) as url:
        yield f"{url}{WEBHOOK_PATH}", receiver


async def post(url: str, body: bytes, headers: dict[str, str]) -> httpx2.Response:
    async with httpx2.AsyncClient(timeout=15) as http:
        return await http.post(url, content=body, headers=headers)


async def test_signed_events_notify_once_per_event_id() -> None:
    notified: list[str] = []

    async def notify(replica_id: str) -> None:
        notified.append(replica_id)

    async with receiver_at(notify) as (url, receiver):
        first = event("evt_1", "r-1")
        assert (await post(url, first, signed(first, "evt_1"))).status_code == 200
        again = await post(url, first, signed(first, "evt_1"))  # the platform redelivers
        assert again.status_code == 200
        assert again.json()["detail"] == "duplicate"
        second = event("evt_2", "r-2")
        assert (await post(url, second, signed(second))).status_code == 200  # id from the body
    assert notified == ["r-1", "r-2"]
    assert receiver.handled == 2
    assert receiver.duplicates == 1


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Replicas-Signature": "sha256=" + "0" * 64},
        {"X-Replicas-Signature": sign_body(event("evt_1"), "whsec_other_secret_123")},
        {"X-Replicas-Signature": sign_body(event("evt_1") + b" ", SECRET)},  # signed a different body
    ],
)
async def test_a_bad_signature_is_refused_and_notifies_nobody(headers: dict[str, str]) -> None:
    notified: list[str] = []

    async def notify(replica_id: str) -> None:
        notified.append(replica_id)

    async with receiver_at(notify) as (url, receiver):
        response = await post(url, event("evt_1"), headers)
        assert response.status_code == 401
        assert SECRET not in response.text
    assert notified == []
    assert len(cast(LocalClaims, receiver.seen)) == 0  # a forged delivery does not burn the event id


async def test_our_own_failure_answers_503_and_the_retry_is_handled() -> None:
    calls = 0

    async def flaky(replica_id: str) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("subscriber bus down")

    async with receiver_at(flaky) as (url, receiver):
        body = event("evt_9")
        assert (await post(url, body, signed(body, "evt_9"))).status_code == 503
        assert (await post(url, body, signed(body, "evt_9"))).status_code == 200
    assert calls == 2
    assert receiver.handled == 1


async def test_a_hanging_notification_still_gets_a_fast_503() -> None:
    async def hangs(replica_id: str) -> None:
        await anyio.sleep(60)

    async with receiver_at(hangs, deadline=0.3) as (url, _):
        body = event("evt_slow")
        with anyio.fail_after(30):  # the notification hangs for 60 s: only the deadline answers sooner
            response = await post(url, body, signed(body))
        assert response.status_code == 503


async def test_remembered_event_ids_are_bounded() -> None:
    async def notify(replica_id: str) -> None:
        return None

    async with receiver_at(notify, max_remembered=5) as (url, receiver):
        for n in range(20):
            body = event(f"evt_{n}")
            assert (await post(url, body, signed(body))).status_code == 200
        assert len(cast(LocalClaims, receiver.seen)) == 5
        assert receiver.handled == 20


async def test_oversized_and_malformed_bodies(caplog: pytest.LogCaptureFixture) -> None:
    async def notify(replica_id: str) -> None:
        return None

    caplog.set_level(logging.DEBUG)
    async with receiver_at(notify) as (url, receiver):
        huge = b"{" + b" " * 1_100_000 + b"}"
        assert (await post(url, huge, signed(huge))).status_code == 413
        garbage = b"not json"
        assert (await post(url, garbage, signed(garbage))).status_code == 401
    assert receiver.handled == 0
    assert SECRET not in caplog.text


async def test_webhooks_reach_subscribers_through_the_server(sandbox: RunningSandbox) -> None:
    replica = "r-known-only-to-the-webhook"  # the watcher finds no such replica, so only the webhook notifies
    uri = f"replicas://replicas/{replica}"
    async with http_server(sandbox, api_key=DEFAULT_ORG_KEY, webhook_secret=SECRET) as (url, _server):
        async with mcp_client(url) as client, client.listen(resource_subscriptions=[uri]) as updates:
            body = event("evt_live", replica)
            assert (await post(f"{url}{WEBHOOK_PATH}", body, signed(body, "evt_live"))).status_code == 200
            with anyio.fail_after(5):
                update = await anext(updates)
            assert isinstance(update, ResourceUpdated)
            assert str(update.uri) == uri
        # And real deliveries from the platform (the sandbox signs and posts them): all accepted.
        async with ReplicasClient(api_key=DEFAULT_ORG_KEY, base_url=sandbox.base_url) as api:
            await api.replicas.create(
                name="hooked",
                message="Fix it",
                environment_id="global",
                webhook_url={"url": f"{url}{WEBHOOK_PATH}", "secret": SECRET},
            )
            with anyio.fail_after(10):
                while not any(d.delivered for d in sandbox.world.webhooks.deliveries):
                    await anyio.sleep(0.05)
        assert all(d.attempts[0] == "200" for d in sandbox.world.webhooks.deliveries if d.attempts)


async def test_without_a_secret_there_is_no_receiver(sandbox: RunningSandbox) -> None:
    async with http_server(sandbox, api_key=DEFAULT_ORG_KEY) as (url, _):
        body = event("evt_x")
        response = await post(f"{url}{WEBHOOK_PATH}", body, signed(body))
        assert response.status_code == 404


# --- issue 12 #4: only the signed body is believed, and old deliveries are refused ----------------------


async def test_a_replayed_body_under_a_fresh_event_id_header_is_a_duplicate() -> None:
    notified: list[str] = []

    async def notify(replica_id: str) -> None:
        notified.append(replica_id)

    async with receiver_at(notify) as (url, receiver):
        body = event("evt_signed")
        assert (await post(url, body, signed(body, "evt_header_1"))).json()["detail"] == "ok"
        replay = await post(url, body, signed(body, "evt_header_2"))
        assert replay.status_code == 200
        assert replay.json()["detail"] == "duplicate"
        without_body_id = event(None, "r-2")
        await post(url, without_body_id, signed(without_body_id, "evt_a"))
        again = await post(url, without_body_id, signed(without_body_id, "evt_b"))
        assert again.json()["detail"] == "duplicate"
    assert notified == ["r-1", "r-2"]
    assert receiver.duplicates == 2


async def test_the_replica_header_never_decides_who_is_notified() -> None:
    notified: list[str] = []

    async def notify(replica_id: str) -> None:
        notified.append(replica_id)

    async with receiver_at(notify) as (url, _):
        body = event("evt_no_replica", replica_id=None)
        headers = {**signed(body), "X-Replicas-Replica-Id": "someone-elses-replica"}
        assert (await post(url, body, headers)).status_code == 200
        body = event("evt_with_replica", replica_id="r-signed")
        headers = {**signed(body), "X-Replicas-Replica-Id": "someone-elses-replica"}
        assert (await post(url, body, headers)).status_code == 200
    assert notified == ["r-signed"]


@pytest.mark.parametrize(
    ("seconds_ago", "reason"),
    [(2 * 3600, "older than 3600 s"), (-3600, "in the future"), (None, "no created_at")],
)
async def test_deliveries_outside_the_window_are_refused(seconds_ago: float | None, reason: str) -> None:
    notified: list[str] = []

    async def notify(replica_id: str) -> None:
        notified.append(replica_id)

    if seconds_ago is None:
        body = json.dumps({"id": "evt_undated", "type": "replica.ready", "replica": {"id": "r-1"}}).encode()
    else:
        body = event("evt_old", seconds_ago=seconds_ago)
    async with receiver_at(notify) as (url, _):
        response = await post(url, body, signed(body))
    assert response.status_code == 400
    assert reason in response.json()["detail"]
    assert notified == []


async def test_a_created_at_without_an_offset_is_utc_whatever_the_hosts_time_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Read as local time on a host 14 hours ahead of UTC, a fresh delivery would look 14 hours old."""
    notified: list[str] = []

    async def notify(replica_id: str) -> None:
        notified.append(replica_id)

    naive = datetime.now(UTC).replace(tzinfo=None).isoformat()
    body = json.dumps(
        {"id": "evt_naive", "type": "replica.ready", "replica": {"id": "r-1"}, "created_at": naive}
    )
    monkeypatch.setenv("TZ", "Pacific/Kiritimati")
    time.tzset()
    try:
        async with receiver_at(notify) as (url, _):
            response = await post(url, body.encode(), signed(body.encode()))
    finally:
        monkeypatch.undo()
        time.tzset()
    assert response.status_code == 200, response.text
    assert notified == ["r-1"]
