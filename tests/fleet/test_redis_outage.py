"""Redis down: instances stay alive but not ready, and tool calls are refused in plain words. Redis back:
readiness returns, calls work, and the update channel is listened to again (no restart needed)."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import anyio
import httpx2
from mcp.server.subscriptions import ResourceUpdated

from bench.fleet_procs import Fleet, Instance

from .helpers import call, mcp_at, ok, post_webhook, text_of, webhook_body


async def _statuses(fleet: Fleet, path: str) -> list[int]:
    async with httpx2.AsyncClient(timeout=5) as http:
        return [(await http.get(f"{instance.url}{path}")).status_code for instance in fleet.instances]


async def _until_statuses(fleet: Fleet, path: str, wanted: int, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while (statuses := await _statuses(fleet, path)) != [wanted] * len(fleet.instances):
        assert time.monotonic() < deadline, f"{path} answered {statuses}, expected {wanted} everywhere"
        await anyio.sleep(0.2)


def _shapes(secret: str) -> list[str]:
    return [secret, secret.upper(), secret[: len(secret) // 2 + 2]]


async def test_redis_down_fails_readiness_and_refuses_calls_clearly_then_recovers(
    healthy_fleet: Fleet,
) -> None:
    """Also: the Redis URL's password appears in nothing said before, during or after the outage, even by an
    instance logging at DEBUG (`secretive`, on a database of its own)."""
    fleet = healthy_fleet
    secretive = fleet.spawn("secretive", db=fleet.fresh_db(), log_level="DEBUG")
    said: list[str] = []
    try:
        fleet.wait_ready(secretive)
        async with mcp_at(secretive.url) as client:
            environment = (await ok(client, "list_environments", {}))["environments"][0]["id"]
            arguments = {"environment_id": environment, "task": "Say hi", "name": f"s-{uuid.uuid4().hex[:6]}"}
            said.append(text_of(await call(client, "delegate_task", {**arguments, "wait_s": 0})))
        await _outage_and_back(fleet, secretive, said)
    finally:
        fleet.retire(secretive)
    said.append(secretive.child.log.read_text())
    assert "DEBUG" in said[-1]
    assert "Redis updates channel lost" in said[-1]  # it logged during the outage
    for text in said:
        for shape in _shapes(fleet.redis_password):
            assert shape not in text


async def _outage_and_back(fleet: Fleet, secretive: Instance, said: list[str]) -> None:
    fleet.stop_redis()
    await _until_statuses(fleet, "/readyz", 503)
    assert await _statuses(fleet, "/healthz") == [200, 200, 200]  # alive: no restart wanted
    async with httpx2.AsyncClient(timeout=5) as http:
        through_nginx = await http.get(f"{fleet.url}/readyz")
    assert through_nginx.status_code == 503
    assert "Redis" in through_nginx.json()["detail"]
    said.append(through_nginx.text)

    async with mcp_at(fleet.url) as client, mcp_at(secretive.url) as other:
        refused = await call(client, "list_environments", {})
        said.append(text_of(await call(other, "list_environments", {})))
    assert refused.is_error
    assert "shared state (Redis) is unreachable" in text_of(refused)
    assert "Retry" in text_of(refused)
    said.append(text_of(refused))

    # A webhook cannot be deduplicated now: 503, so the platform delivers it again later.
    outage_body = webhook_body(f"evt-during-outage-{uuid.uuid4().hex[:6]}", "r-fleet-after-outage")
    assert (await post_webhook(fleet.url, outage_body)).status_code == 503

    fleet.start_redis()  # same port, empty (no persistence): nothing the fleet needs is lost for good
    await _until_statuses(fleet, "/readyz", 200)
    fleet.wait_ready(secretive)
    async with mcp_at(fleet.url) as client:
        assert (await ok(client, "list_environments", {}))["environments"]

    # The pub/sub connection came back too: a webhook to one instance reaches a listener on another.
    first, second, _ = fleet.instances
    uri = "replicas://replicas/r-fleet-after-outage"
    async with mcp_at(second.url) as client, client.listen(resource_subscriptions=[uri]) as updates:
        with anyio.fail_after(10):
            while True:  # the listener may still be reconnecting (every 0.5 s): redeliver until heard
                body = webhook_body(f"evt-outage-{uuid.uuid4().hex[:6]}", "r-fleet-after-outage")
                answer = await post_webhook(first.url, body)
                assert answer.status_code == 200, (answer.text, fleet.logs())
                with anyio.move_on_after(1):
                    update = await anext(updates)
                    break
        assert isinstance(update, ResourceUpdated)
        assert str(update.uri) == uri


async def _quiet(updates: AsyncIterator[object], for_s: float = 0.5) -> None:
    """Read what is pending until nothing arrives for `for_s` seconds."""
    while True:
        with anyio.move_on_after(for_s) as idle:
            await anext(updates)
        if idle.cancelled_caught:
            return


async def test_a_subscription_open_through_an_outage_goes_on_notifying(healthy_fleet: Fleet) -> None:
    fleet = healthy_fleet
    async with mcp_at(fleet.url) as client:
        environment = (await ok(client, "list_environments", {}))["environments"][0]["id"]
        launched = await ok(
            client,
            "delegate_task",
            {
                "environment_id": environment,
                "task": "Tidy up",
                "name": f"outage-{uuid.uuid4().hex[:6]}",
                "wait_s": 5,
            },
        )
    replica_id = launched["replicas"][0]["replica_id"]
    uri = f"replicas://replicas/{replica_id}"
    async with (
        mcp_at(fleet.instances[1].url) as client,
        client.listen(resource_subscriptions=[uri]) as updates,
    ):
        fleet.stop_redis()
        await _until_statuses(fleet, "/readyz", 503)
        await anyio.sleep(1.5)  # the watch meets the outage (its status checks go through Redis)
        fleet.start_redis()
        await _until_statuses(fleet, "/readyz", 200)
        await _quiet(updates)
        async with mcp_at(fleet.url) as sender:
            await ok(sender, "send_replica_message", {"replica_id": replica_id, "message": "One more thing"})
        with anyio.fail_after(10):
            update = await anext(updates)
        assert isinstance(update, ResourceUpdated)
        assert str(update.uri) == uri
