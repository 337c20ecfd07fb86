"""A `preparing` status learned from a create or a wake is trusted for a few seconds, but never once the
workspace may have stopped: under the contract a read of a sleeping workspace wakes it."""

from __future__ import annotations

import anyio
import pytest

from replicas_mcp.client import ReplicasClient
from replicas_mcp.client.models import EngineEvent
from replicas_mcp.sandbox.serve import RunningSandbox
from replicas_mcp.server.caller import SERVER_CALLER
from replicas_mcp.server.state.directory import ReplicaDirectory
from replicas_mcp.server.state.knowledge import MemoryKnowledge
from replicas_mcp.server.state.streams import SharedStreams
from replicas_mcp.server.state.view import KnowingClient

from ..helpers import repo_environment
from .helpers import mcp_client, requests, tool

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


@pytest.mark.sandbox_mode(boot_seconds=100)  # 5 s at the test time scale
async def test_a_live_stream_opened_while_preparing_says_active_only_once_a_turn_starts_on_it(
    sandbox: RunningSandbox,
) -> None:
    """A stream can be opened while the workspace prepares: being live is not being active (a wait that
    took it for active read the still idle chats as "done" before the turn). A turn starting on it is."""
    async with (
        ReplicasClient(api_key=sandbox.org_key, base_url=sandbox.base_url) as api,
        anyio.create_task_group() as tg,
    ):
        streams = SharedStreams(tg)
        directory = ReplicaDirectory(MemoryKnowledge(), streams=streams)
        client = KnowingClient(api, directory, streams, caller=SERVER_CALLER)
        created = await client.replicas.create(
            name="slow-boot", message="Quick job", environment_id=await repo_environment(api)
        )
        async with client.shared_stream(created.id, after=None) as feed:
            assert streams.has_live(SERVER_CALLER, created.id)
            sandbox.faults.stats.reset()
            shown = await client.replicas.status(created.id)
            assert shown is not None
            assert shown.status == "preparing"
            assert requests(sandbox) == 0  # the create's record, within its window
            fresh = await client.replicas.status(created.id, fresh=True)
            assert fresh is not None
            assert fresh.status == "preparing"
            assert requests(sandbox) == 1  # the preparing list alone says so
            with anyio.fail_after(15):
                async for event in feed:
                    if isinstance(event, EngineEvent) and event.type == "chat.turn.started":
                        break
            sandbox.faults.stats.reset()
            booted = await client.replicas.status(created.id)
            assert booted is not None
            assert booted.status == "active"
            assert requests(sandbox) == 0  # the stream said so
        tg.cancel_scope.cancel()
