"""A `preparing` status learned from a create or a wake is trusted for a few seconds, but never once the
workspace may have stopped: under the contract a read of a sleeping workspace wakes it."""

from __future__ import annotations

import anyio
import pytest

from replicas_mcp.sandbox.serve import RunningSandbox

from ..helpers import repo_environment
from .helpers import mcp_client, tool

DETAILS = "/v1/replica/{id}"


def _status(sandbox: RunningSandbox, replica_id: str) -> str:
    found = sandbox.world.find_replica(replica_id)
    assert found is not None
    return found[1].status


@pytest.mark.sandbox_mode(wake_reads="contract")
async def test_a_replica_that_slept_right_after_its_create_is_not_woken_by_a_read_in_the_window(
    sandbox: RunningSandbox,
) -> None:
    async with mcp_client(sandbox) as (client, api):
        env = await repo_environment(api)
        args = {"name": "nap", "message": "Quick job [[sleep]]", "environment_id": env}
        created = await client.call_tool("create_replica", args)
        assert not created.is_error, created.content
        assert created.structured_content is not None
        rid = created.structured_content["id"]
        # A wait follows it on the shared stream (the upstream ends when the workspace stops).
        await tool(client, "wait_for_replica", replica_id=rid, timeout_s=10)
        with anyio.fail_after(10):
            while _status(sandbox, rid) != "sleeping":
                await anyio.sleep(0.01)
        sandbox.faults.stats.reset()
        # Well within the 5 s in which the create's `preparing` would be trusted.
        shown = await tool(client, "get_replica", replica_id=rid)
        waited = await tool(client, "wait_for_replica", replica_id=rid, timeout_s=2)
        assert sandbox.faults.stats.count("GET", DETAILS) == 0, "a details read wakes the replica"
        assert _status(sandbox, rid) == "sleeping"
        assert shown["status"] == "sleeping"
        assert waited["replicas"][0]["state"] == "sleeping"
