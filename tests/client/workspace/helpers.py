"""Helpers of the workspace client tests: deadlines, routes, waiting for a status, the canary check."""

from __future__ import annotations

import anyio

from replicas_mcp.client import ReplicasClient
from replicas_mcp.client.models import ReplicaListItem
from replicas_mcp.sandbox.serve import RunningSandbox

from ..client_helpers import CANARY_KEY

# Each await talks to a local sandbox whose simulated time runs 50x fast.
DEADLINE = 10
TIME_SCALE = 0.02

LIST = "/v1/replica"
CREATE = "/v1/replica"
MESSAGES = "/v1/replica/{id}/messages"
CHATS = "/v1/replica/{id}/chats"
HISTORY = "/v1/replica/{id}/history"


def assert_no_canary(error: BaseException) -> None:
    for text in (str(error), repr(error), str(getattr(error, "details", "")), str(error.__cause__)):
        assert CANARY_KEY not in text


def stats(canary_sandbox: RunningSandbox, method: str, route: str, *, handled: bool = False) -> int:
    return canary_sandbox.faults.stats.count(method, route, handled=handled)


async def wait_for_status(client: ReplicasClient, replica_id: str, wanted: str) -> ReplicaListItem:
    with anyio.fail_after(DEADLINE):
        while True:
            item = await client.replicas.status(replica_id)
            assert item is not None
            if item.status == wanted:
                return item
            await anyio.sleep(0.02)


async def active_replica(client: ReplicasClient, name: str, message: str = "Say hello") -> ReplicaListItem:
    with anyio.fail_after(DEADLINE):
        created = await client.replicas.create(environment_id="global", name=name, message=message)
    return await wait_for_status(client, created.id, "active")


async def wait_idle(client: ReplicasClient, replica_id: str) -> None:
    """Until no chat of the replica is processing a turn."""
    with anyio.fail_after(DEADLINE):
        while any(chat.processing for chat in await client.chats.list(replica_id)):
            await anyio.sleep(0.02)
