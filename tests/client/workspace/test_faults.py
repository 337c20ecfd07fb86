"""Retries and faults: 429 with Retry-After, bursts of 503, dropped connections, a create that times out
after it was handled; no error of any fault carries the API key."""

from __future__ import annotations

import anyio
import pytest

from replicas_mcp.client import ReplicasClient
from replicas_mcp.client.errors import (
    CreateOutcomeUnknownError,
    RateLimitedError,
    ReplicasError,
    ServerError,
    TransportError,
)
from replicas_mcp.sandbox.serve import RunningSandbox
from replicas_mcp.sandbox.world import DEFAULT_ORG_NAME

from ..client_helpers import CANARY_KEY
from .helpers import (
    CHATS,
    CREATE,
    DEADLINE,
    LIST,
    MESSAGES,
    active_replica,
    assert_no_canary,
    stats,
)

# --- retries and faults ----------------------------------------------------------------------------------


async def test_429_with_retry_after_is_retried(
    client: ReplicasClient, canary_sandbox: RunningSandbox
) -> None:
    replica = await active_replica(client, "throttled")
    canary_sandbox.faults.inject_status(429, route=LIST, method="GET", retry_after=0.05)
    canary_sandbox.faults.inject_status(429, route=MESSAGES, method="POST", retry_after=0.05)
    before = stats(canary_sandbox, "GET", LIST)
    with anyio.fail_after(DEADLINE):
        await client.replicas.list()
        result = await client.replicas.send_message(replica.id, "hello again")
    assert result.status in ("sent", "queued")
    assert stats(canary_sandbox, "GET", LIST) - before == 2
    assert stats(canary_sandbox, "POST", MESSAGES) == 2
    assert stats(canary_sandbox, "POST", MESSAGES, handled=True) == 1


async def test_retry_after_over_the_cap_raises_with_the_wait(
    client: ReplicasClient, canary_sandbox: RunningSandbox
) -> None:
    canary_sandbox.faults.inject_status(429, route=LIST, method="GET", retry_after=600)
    with anyio.fail_after(DEADLINE), pytest.raises(RateLimitedError) as info:
        await client.replicas.list()
    assert info.value.retry_after == 600
    assert stats(canary_sandbox, "GET", LIST) == 1
    assert_no_canary(info.value)


async def test_bursts_of_503(client: ReplicasClient, canary_sandbox: RunningSandbox) -> None:
    canary_sandbox.faults.inject_status(503, route=LIST, method="GET", times=2)
    with anyio.fail_after(DEADLINE):
        await client.replicas.list()
    assert stats(canary_sandbox, "GET", LIST) == 3  # two retries, then success

    canary_sandbox.faults.inject_status(503, route=LIST, method="GET", times=3)
    with anyio.fail_after(DEADLINE), pytest.raises(ServerError) as info:
        await client.replicas.list()
    assert stats(canary_sandbox, "GET", LIST) == 6  # at most two retries
    assert_no_canary(info.value)


@pytest.mark.parametrize("retry_after", [None, 0.05], ids=["plain", "retry-after"])
async def test_post_is_not_retried_on_503(
    client: ReplicasClient, canary_sandbox: RunningSandbox, retry_after: float | None
) -> None:
    """Even when asked to retry: neither document says a 503 means the message was not delivered."""
    replica = await active_replica(client, "unretried")
    canary_sandbox.faults.inject_status(503, route=MESSAGES, method="POST", retry_after=retry_after)
    with anyio.fail_after(DEADLINE), pytest.raises(ServerError):
        await client.replicas.send_message(replica.id, "hello")
    assert stats(canary_sandbox, "POST", MESSAGES) == 1


async def test_dropped_connections(client: ReplicasClient, canary_sandbox: RunningSandbox) -> None:
    replica = await active_replica(client, "flaky")
    canary_sandbox.faults.drop_connection(route=CHATS, method="GET")
    with anyio.fail_after(DEADLINE):
        assert await client.chats.list(replica.id)  # a GET is retried
    assert stats(canary_sandbox, "GET", CHATS) == 2

    canary_sandbox.faults.drop_connection(route=MESSAGES, method="POST")
    with anyio.fail_after(DEADLINE), pytest.raises(TransportError) as info:
        await client.replicas.send_message(replica.id, "hello")  # a POST may have been received: not retried
    assert stats(canary_sandbox, "POST", MESSAGES) == 1
    assert_no_canary(info.value)


async def test_create_that_times_out_after_sending_is_reconciled(canary_sandbox: RunningSandbox) -> None:
    # The sandbox creates the replica, then answers late; the client gives up after 0.3 s.
    canary_sandbox.faults.add_latency(1.0, route=CREATE, method="POST", when="after", times=1)
    async with ReplicasClient(api_key=CANARY_KEY, base_url=canary_sandbox.base_url, timeout=0.3) as client:
        with anyio.fail_after(DEADLINE):
            found = await client.replicas.create(environment_id="global", name="slow-create", message="hello")
            listed = await client.replicas.find_by_name("slow-create")
    assert listed is not None
    assert found.id == listed.id
    assert stats(canary_sandbox, "POST", CREATE) == 1
    assert stats(canary_sandbox, "POST", CREATE, handled=True) == 1
    assert (
        len(
            [
                item
                for item in canary_sandbox.world.org(DEFAULT_ORG_NAME).workspaces.replicas.values()
                if item.name == "slow-create"
            ]
        )
        == 1
    )


@pytest.mark.parametrize("fault", ["status-500", "drop"])
async def test_create_with_unknown_outcome_and_no_replica(
    client: ReplicasClient, canary_sandbox: RunningSandbox, fault: str
) -> None:
    if fault == "drop":
        canary_sandbox.faults.drop_connection(route=CREATE, method="POST")
    else:
        canary_sandbox.faults.inject_status(500, route=CREATE, method="POST")
    with anyio.fail_after(DEADLINE), pytest.raises(CreateOutcomeUnknownError) as info:
        await client.replicas.create(environment_id="global", name="ghost", message="hello")
    assert info.value.name == "ghost"
    assert stats(canary_sandbox, "POST", CREATE) == 1  # never sent twice
    assert_no_canary(info.value)


async def test_create_retries_429_with_retry_after(
    client: ReplicasClient, canary_sandbox: RunningSandbox
) -> None:
    canary_sandbox.faults.inject_status(429, route=CREATE, method="POST", retry_after=0.05)
    with anyio.fail_after(DEADLINE):
        created = await client.replicas.create(environment_id="global", name="patient", message="hello")
    assert created.name == "patient"
    assert stats(canary_sandbox, "POST", CREATE) == 2
    assert stats(canary_sandbox, "POST", CREATE, handled=True) == 1


async def test_errors_from_every_fault_keep_the_key_out(
    client: ReplicasClient, canary_sandbox: RunningSandbox
) -> None:
    collected: list[ReplicasError] = []
    for status in (400, 401, 403, 404, 409, 413, 429, 500, 502, 503, 504):
        canary_sandbox.faults.inject_status(
            status, route=LIST, method="GET", times=3, retry_after=600 if status == 429 else None
        )
        try:
            with anyio.fail_after(DEADLINE):
                await client.replicas.list()
        except ReplicasError as error:
            collected.append(error)
        canary_sandbox.faults.clear()
    assert len(collected) == 11
    for collected_error in collected:
        assert_no_canary(collected_error)
    assert CANARY_KEY not in repr(client)
