"""Webhooks: documented events and headers, HMAC signatures, and the retry policy."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from replicas_mcp.sandbox.serve import RunningSandbox, serving

from ..helpers import assert_error, eventually
from .sandbox_helpers import client, create_replica, wait_idle

SECRET = "whsec_test_secret"


@dataclass
class Receiver:
    """A webhook endpoint on loopback that answers with the scripted statuses, then 200.

    With `only`, the script applies to that event type alone (other events get 200).
    """

    url: str = ""
    statuses: list[int] = field(default_factory=list)
    only: str | None = None
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.received]


@asynccontextmanager
async def receiver(*statuses: int, only: str | None = None) -> AsyncIterator[Receiver]:
    state = Receiver(statuses=list(statuses), only=only)

    async def hook(request: Request) -> Response:
        state.received.append((dict(request.headers), await request.body()))
        scripted = state.only in (None, request.headers["x-replicas-event"])
        status = state.statuses.pop(0) if state.statuses and scripted else 200
        return JSONResponse({"ok": status < 300}, status_code=status)

    async with serving(Starlette(routes=[Route("/hook", hook, methods=["POST"])])) as base_url:
        state.url = f"{base_url}/hook"
        yield state


async def test_lifecycle_events_arrive_signed_with_the_documented_headers(sandbox: RunningSandbox) -> None:
    async with receiver() as endpoint, client(sandbox) as api:
        replica = await create_replica(
            api, message="Fix it [[pr]]", webhook_url={"url": endpoint.url, "secret": SECRET}
        )
        await wait_idle(api, replica["id"])
        assert (await api.delete(f"/v1/replica/{replica['id']}")).status_code == 200

        async def three_events() -> bool:
            return len(endpoint.received) >= 3

        await eventually(three_events)
        assert [event["type"] for event in endpoint.events()] == [
            "replica.ready",
            "replica.turn_completed",
            "replica.deleted",
        ]
        for headers, body in endpoint.received:
            event = json.loads(body)
            assert headers["x-replicas-event"] == event["type"]
            assert headers["x-replicas-event-id"] == event["id"]
            assert headers["x-replicas-delivery"]
            assert headers["x-replicas-replica-id"] == replica["id"]
            expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
            assert hmac.compare_digest(headers["x-replicas-signature"], expected)
            assert {"id", "type", "created_at", "replica", "data"} <= set(event)
            assert {"id", "name", "status", "source", "created_at"} <= set(event["replica"])
        turn = endpoint.events()[1]["data"]
        assert turn["pr_urls"]
        assert turn["repository_statuses"][0]["pr_urls"] == turn["pr_urls"]
        assert {"repository", "branch", "default_branch", "pr_urls"} <= set(turn["repository_statuses"][0])
        assert endpoint.events()[2]["data"] == {}


async def test_a_bare_url_gets_unsigned_deliveries_and_errors_are_reported(sandbox: RunningSandbox) -> None:
    async with receiver() as endpoint, client(sandbox) as api:
        replica = await create_replica(api, message="Go [[error: disk full]]", webhook_url=endpoint.url)

        async def error_reported() -> bool:
            return any(event["type"] == "replica.error" for event in endpoint.events())

        await eventually(error_reported)
        error = next(event for event in endpoint.events() if event["type"] == "replica.error")
        assert error["data"] == {"message": "disk full"}
        assert all("x-replicas-signature" not in headers for headers, _ in endpoint.received)
        assert replica["id"] == error["replica"]["id"]


async def test_5xx_and_429_are_retried_with_the_same_delivery_id(sandbox: RunningSandbox) -> None:
    async with receiver(500, 429, 503, only="replica.ready") as endpoint, client(sandbox) as api:
        await create_replica(api, webhook_url=endpoint.url)

        def ready_attempts() -> list[dict[str, str]]:
            return [
                headers for headers, _ in endpoint.received if headers["x-replicas-event"] == "replica.ready"
            ]

        async def delivered() -> bool:
            # The receiver logs an attempt before it answers; the sandbox records the answer after: wait
            # for both, or the checks below race the last response.
            deliveries = sandbox.world.webhooks.deliveries
            return len(ready_attempts()) >= 4 and bool(deliveries) and deliveries[0].finished

        await eventually(delivered)
        assert len({headers["x-replicas-delivery"] for headers in ready_attempts()}) == 1
        delivery = sandbox.world.webhooks.deliveries[0]
        assert delivery.event_type == "replica.ready"
        assert delivery.attempts == ["500", "429", "503", "200"]
        assert delivery.delivered


async def test_other_4xx_are_permanent_and_retries_stop_after_three(sandbox: RunningSandbox) -> None:
    async with (
        receiver(400, only="replica.ready") as refusing,
        receiver(500, 500, 500, 500, only="replica.ready") as failing,
        client(sandbox) as api,
    ):
        await create_replica(api, name="refused", webhook_url=refusing.url)

        async def finished(count: int) -> bool:
            deliveries = sandbox.world.webhooks.deliveries
            return len(deliveries) >= count and all(delivery.finished for delivery in deliveries[:count])

        await eventually(lambda: finished(1))
        ready = sandbox.world.webhooks.deliveries[0]
        assert ready.attempts == ["400"]
        assert not ready.delivered
        await create_replica(api, name="failing", webhook_url=failing.url, lifecycle_policy="sleep_when_done")
        await eventually(lambda: finished(4), timeout=8)
        retried = next(d for d in sandbox.world.webhooks.deliveries if d.url == failing.url)
        assert retried.attempts == ["500"] * 4
        assert not retried.delivered


async def test_network_errors_are_retried(sandbox: RunningSandbox) -> None:
    async with receiver() as endpoint:
        dead_url = endpoint.url  # the receiver is gone once the block ends: connections are refused
    async with client(sandbox) as api:
        await create_replica(api, webhook_url=dead_url)

        async def finished() -> bool:
            deliveries = sandbox.world.webhooks.deliveries
            return bool(deliveries) and deliveries[0].finished

        await eventually(finished)
        assert sandbox.world.webhooks.deliveries[0].attempts == ["ConnectError"] * 4
        listing = (await api.get(f"{sandbox.base_url}/_sandbox/webhooks")).json()["deliveries"]
        assert listing[0]["attempts"] == ["ConnectError"] * 4
        assert "secret" not in json.dumps(listing)


async def test_a_webhook_url_must_be_http(sandbox: RunningSandbox) -> None:
    async with client(sandbox) as api:
        body = {"name": "n", "message": "x", "environment_id": "global", "webhook_url": 42}
        assert_error(await api.post("/v1/replica", json=body), 400, "Invalid field 'webhook_url'")
