"""What must hold once for the whole fleet, whichever instance a call lands on: one replica per task name,
one rate budget and one subscription cap per caller; and the subscription leases behind that cap end with
their owners. Instances spawned with their own limits get a fresh Redis database (`Fleet.fresh_db`), so
the fleet's own instances (default caps) and earlier tests hold nothing they count."""

from __future__ import annotations

import time
import uuid

import anyio
import pytest
from mcp.shared.exceptions import MCPDeprecationWarning, MCPError
from mcp.types import CallToolResult

from bench.fleet_procs import Fleet

from .helpers import api, call, mcp_at, ok, slow_creates, text_of


async def test_concurrent_delegations_of_one_name_on_three_instances_start_one_replica(fleet: Fleet) -> None:
    name = f"race-{uuid.uuid4().hex[:8]}"
    async with mcp_at(fleet.url) as client:
        environment = (await ok(client, "list_environments", {}))["environments"][0]["id"]
    arguments = {"environment_id": environment, "task": "Fix the flaky test", "name": name, "wait_s": 0}
    launches: list[dict[str, object]] = []

    async def delegate(url: str) -> None:
        async with mcp_at(url) as client:
            result = await ok(client, "delegate_task", arguments)
            launches.append(result["replicas"][0])

    # A slow create (0.5 s) keeps the race window open: without a fleet-wide lock every call would miss
    # the lookup and create its own replica.
    async with slow_creates(fleet, seconds=0.5), anyio.create_task_group() as tasks:
        for instance in fleet.instances * 2:  # two racing calls per instance
            tasks.start_soon(delegate, instance.url)

    assert len(launches) == 6
    assert sum(bool(launch["created"]) for launch in launches) == 1
    assert len({launch["replica_id"] for launch in launches}) == 1
    async with api(fleet) as replicas:
        named = [item async for item in replicas.replicas.iter() if item.name == name]
    assert len(named) == 1


def _refused(result: CallToolResult) -> bool:
    return result.is_error and "Rate limit reached" in text_of(result)


async def test_a_rate_limit_holds_across_instances(fleet: Fleet) -> None:
    db = fleet.fresh_db()
    limited = [fleet.spawn(f"limited{n}", db=db, rate_limit="4") for n in (1, 2)]
    try:
        for instance in limited:
            fleet.wait_healthy(instance)
        if 60 - time.time() % 60 < 10:  # the budget is per minute: start the calls early in one
            await anyio.sleep(60 - time.time() % 60 + 0.1)
        first, second = limited
        async with mcp_at(first.url) as a, mcp_at(second.url) as b:
            for client in (a, b, a, b):  # four calls, two per instance: within the budget of 4
                result = await call(client, "list_environments", {})
                assert not result.is_error, text_of(result)
            over_a = await call(a, "list_environments", {})
            over_b = await call(b, "list_environments", {})
        assert _refused(over_a), text_of(over_a)
        assert _refused(over_b), text_of(over_b)
        assert "per caller" in text_of(over_a)
    finally:
        for instance in limited:
            fleet.retire(instance)


async def test_a_subscription_cap_holds_across_instances(fleet: Fleet) -> None:
    db = fleet.fresh_db()
    capped = [fleet.spawn(f"capped{n}", db=db, max_subscriptions="2") for n in (1, 2)]
    try:
        for instance in capped:
            fleet.wait_healthy(instance)
        first, second = capped
        uris = [f"replicas://replicas/r-capped-{n}" for n in range(3)]
        async with mcp_at(first.url) as a, mcp_at(second.url) as b:
            async with a.listen(resource_subscriptions=uris[:2]):  # the caller's two slots, held on one
                with pytest.raises(MCPError) as refused:  # instance: the other has none left
                    async with b.listen(resource_subscriptions=uris[2:]):
                        pass
                assert "Too many subscriptions" in str(refused.value)
            # Closing the first stream gives its slots back (once its instance has seen it close).
            with anyio.fail_after(10):
                while True:
                    try:
                        async with b.listen(resource_subscriptions=uris[2:]):
                            break
                    except MCPError:
                        await anyio.sleep(0.1)
    finally:
        for instance in capped:
            fleet.retire(instance)


LEASES = "replicas-mcp:lease:subscriptions:server-key"  # server-key mode: one caller, one sorted set


def _leases_of(fleet: Fleet, uris: list[str]) -> int:
    holders = fleet.redis_client().zrange(LEASES, 0, -1)
    return sum(1 for holder in holders for uri in uris if str(holder).endswith(f":{uri}"))


async def _until_released(fleet: Fleet, uris: list[str]) -> None:
    with anyio.fail_after(10):  # the instance notices a closed stream or a DELETE within moments
        while _leases_of(fleet, uris):
            await anyio.sleep(0.1)


async def test_subscription_leases_end_with_their_listen_stream_and_legacy_session(fleet: Fleet) -> None:
    """Through nginx, on the fleet's own instances (default cap): a listen stream's leases go when it
    closes, a legacy session's when the client ends it (DELETE). An instance that dies holding leases
    frees them by expiry (test_shared_state_contracts.py::test_a_lapsed_lease_frees_its_slot)."""
    tag = uuid.uuid4().hex[:8]
    listened = [f"replicas://replicas/r-lease-{tag}-{n}" for n in range(2)]
    async with mcp_at(fleet.url) as client:
        async with client.listen(resource_subscriptions=listened):
            assert _leases_of(fleet, listened) == 2
        await _until_released(fleet, listened)
    legacy = [f"replicas://replicas/r-lease-{tag}-legacy"]
    async with mcp_at(fleet.url, mode="legacy") as client:
        with pytest.warns(MCPDeprecationWarning):
            await client.session.subscribe_resource(legacy[0])
        assert _leases_of(fleet, legacy) == 1
    await _until_released(fleet, legacy)
