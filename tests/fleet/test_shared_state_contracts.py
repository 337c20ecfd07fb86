"""The shared-state pieces keep the same contracts in process and in Redis (the fleet's real redis-server)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import anyio
import pytest

from bench.fleet_procs import Fleet
from replicas_mcp.server.state.redis_state import RedisSharedState
from replicas_mcp.server.state.shared import Deliver, RateLimited, SharedState


@pytest.fixture(params=["in-process", "redis"])
async def shared(request: pytest.FixtureRequest, fleet: Fleet) -> AsyncIterator[SharedState]:
    if request.param == "in-process":
        yield SharedState()
        return
    store = RedisSharedState(fleet.redis_url)
    try:
        yield store
    finally:
        await store.redis.aclose()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


async def test_a_claim_is_taken_once_until_forgotten(shared: SharedState) -> None:
    key = unique("evt")
    assert await shared.claims.claim(key, ttl=60)
    assert not await shared.claims.claim(key, ttl=60)
    await shared.claims.forget(key)
    assert await shared.claims.claim(key, ttl=60)


async def test_a_claim_expires(shared: SharedState) -> None:
    key = unique("evt")
    assert await shared.claims.claim(key, ttl=0.2)
    await anyio.sleep(0.4)
    assert await shared.claims.claim(key, ttl=0.2)


async def test_the_rate_limit_counts_per_caller(shared: SharedState) -> None:
    caller, other = unique("caller"), unique("caller")
    with anyio.fail_after(5):
        while True:  # start early in a window, so all calls land in one
            try:
                for _ in range(3):
                    await shared.rate.hit(caller, limit=3, window=2.0)
                break
            except RateLimited:
                caller = unique("caller")
    with pytest.raises(RateLimited) as refused:
        await shared.rate.hit(caller, limit=3, window=2.0)
    assert 0 < refused.value.retry_after <= 2.0
    await shared.rate.hit(other, limit=3, window=2.0)  # another caller's budget is untouched


async def test_leases_cap_a_caller_and_free_on_release(shared: SharedState) -> None:
    caller = unique("caller")
    assert await shared.leases.acquire("subs", caller, "a", limit=2, ttl=30)
    assert await shared.leases.acquire("subs", caller, "b", limit=2, ttl=30)
    assert await shared.leases.acquire("subs", caller, "a", limit=2, ttl=30)  # renewing is not a new slot
    assert not await shared.leases.acquire("subs", caller, "c", limit=2, ttl=30)
    assert await shared.leases.acquire("subs", unique("caller"), "c", limit=2, ttl=30)
    await shared.leases.release("subs", caller, "a")
    assert await shared.leases.acquire("subs", caller, "c", limit=2, ttl=30)


async def test_a_lapsed_lease_frees_its_slot(shared: SharedState) -> None:
    caller = unique("caller")
    assert await shared.leases.acquire("subs", caller, "dead-instance", limit=1, ttl=0.2)
    assert not await shared.leases.acquire("subs", caller, "live", limit=1, ttl=30)
    await anyio.sleep(0.4)
    assert await shared.leases.acquire("subs", caller, "live", limit=1, ttl=30)


async def test_delegation_memory_recalls_the_newest_value_per_kind(shared: SharedState) -> None:
    replica = unique("r")
    assert await shared.memory.recall("task", replica) is None
    await shared.memory.remember("task", replica, "fingerprint-1")
    await shared.memory.remember("task", replica, "fingerprint-2")
    await shared.memory.remember("failure", replica, "the clone failed")
    assert await shared.memory.recall("task", replica) == "fingerprint-2"
    assert await shared.memory.recall("failure", replica) == "the clone failed"
    assert await shared.memory.recall("environment", replica) is None  # kinds are apart


async def test_a_name_lock_admits_one_holder_at_a_time(shared: SharedState) -> None:
    key, inside, most = unique("caller:name"), [0], [0]

    async def hold() -> None:
        async with shared.name_locks.hold(key):
            inside[0] += 1
            most[0] = max(most[0], inside[0])
            await anyio.sleep(0.05)
            inside[0] -= 1

    with anyio.fail_after(10):
        async with anyio.create_task_group() as tasks:
            for _ in range(4):
                tasks.start_soon(hold)
    assert most[0] == 1


async def test_two_instances_exclude_each_other_on_a_name(fleet: Fleet) -> None:
    """Two stores (two instances' connection pools, local locks of their own) share one lock in Redis."""
    stores = [RedisSharedState(fleet.redis_url), RedisSharedState(fleet.redis_url)]
    key, inside, most = unique("caller:name"), [0], [0]

    async def hold(store: RedisSharedState) -> None:
        async with store.name_locks.hold(key):
            inside[0] += 1
            most[0] = max(most[0], inside[0])
            await anyio.sleep(0.1)
            inside[0] -= 1

    try:
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tasks:
                for store in stores * 2:
                    tasks.start_soon(hold, store)
    finally:
        for store in stores:
            await store.redis.aclose()
    assert most[0] == 1


async def test_updates_reach_every_subscriber_instance(fleet: Fleet) -> None:
    first, second = RedisSharedState(fleet.redis_url), RedisSharedState(fleet.redis_url)
    got: list[tuple[str, str, str | None]] = []
    both = anyio.Event()

    def deliver_to(name: str) -> Deliver:
        async def deliver(replica_id: str, caller: str | None) -> None:
            got.append((name, replica_id, caller))
            if len(got) == 2:
                both.set()

        return deliver

    async with first.running(deliver_to("first")), second.running(deliver_to("second")):
        await anyio.sleep(0.3)  # both subscribed
        await first.publish("r-1", "caller-x")
        with anyio.fail_after(5):
            await both.wait()
    assert sorted(got) == [("first", "r-1", "caller-x"), ("second", "r-1", "caller-x")]
