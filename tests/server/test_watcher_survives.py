"""A watch's background work never takes the server down, whatever an upstream read raises."""

from __future__ import annotations

from typing import Any

import anyio

from replicas_mcp.client import ReplicasClient
from replicas_mcp.client.models import ReplicaPage
from replicas_mcp.sandbox.serve import RunningSandbox
from replicas_mcp.server.caller import SERVER_CALLER
from replicas_mcp.server.state.directory import ReplicaDirectory
from replicas_mcp.server.state.knowledge import MemoryKnowledge
from replicas_mcp.server.state.streams import SharedStreams
from replicas_mcp.server.state.view import KnowingClient
from replicas_mcp.server.watcher import CallerBus, ReplicaWatcher, replica_uri

POLL = 0.05


async def test_a_bulk_poll_whose_list_read_breaks_does_not_end_the_lifespans_task_group(
    sandbox: RunningSandbox,
) -> None:
    # A 200 whose body does not fit the model (an API change, a proxy) raises pydantic's ValidationError,
    # not a ReplicasError. The bulk poll runs in the lifespan's task group: raised there, it would cancel
    # every watch, stream and the server's lifespan with it.
    workspaces = sandbox.world.org().workspaces
    replica = workspaces.create(name="napping", message="Keep the lights on", environment_id="global")
    workspaces.force_status(replica, "sleeping")
    polls = 0

    async with (
        ReplicasClient(api_key=sandbox.org_key, base_url=sandbox.base_url) as api,
        anyio.create_task_group() as tg,
    ):
        streams = SharedStreams(tg)
        directory = ReplicaDirectory(MemoryKnowledge(), is_live=streams.has_live)
        client = KnowingClient(api, directory, streams, caller=SERVER_CALLER)
        watcher = ReplicaWatcher(
            CallerBus(lambda: SERVER_CALLER), tg, poll_interval=POLL, streams=streams, directory=directory
        )
        watcher.acquire([replica_uri(replica.id)], SERVER_CALLER, client)
        await anyio.sleep(4 * POLL)  # the watch found it asleep and waits for the bulk poll

        async def broken_awake(*args: Any, **kwargs: Any) -> Any:
            nonlocal polls
            polls += 1
            return ReplicaPage.model_validate({"replicas": "not a list"})

        directory.awake = broken_awake  # type: ignore[method-assign]
        with anyio.fail_after(10):
            while polls < 3:  # the poll goes on after a failure, and the task group is still up
                await anyio.sleep(POLL)
        assert (SERVER_CALLER, replica.id) in watcher.watched
        tg.cancel_scope.cancel()


async def test_a_census_whose_list_read_breaks_does_not_end_the_lifespans_task_group(
    sandbox: RunningSandbox,
) -> None:
    # The census of sleeping replicas runs in the same bulk poll, after the awake sweep: the same rule holds.
    workspaces = sandbox.world.org().workspaces
    replica = workspaces.create(name="dozing", message="Keep the lights on", environment_id="global")
    workspaces.force_status(replica, "sleeping")
    censuses = 0

    async with (
        ReplicasClient(api_key=sandbox.org_key, base_url=sandbox.base_url) as api,
        anyio.create_task_group() as tg,
    ):
        streams = SharedStreams(tg)
        directory = ReplicaDirectory(MemoryKnowledge(), is_live=streams.has_live)
        client = KnowingClient(api, directory, streams, caller=SERVER_CALLER)
        watcher = ReplicaWatcher(
            CallerBus(lambda: SERVER_CALLER), tg, poll_interval=POLL, streams=streams, directory=directory
        )

        async def broken_census(*args: Any, **kwargs: Any) -> Any:
            nonlocal censuses
            censuses += 1
            return ReplicaPage.model_validate({"replicas": "not a list"})

        directory.census = broken_census  # type: ignore[method-assign]
        watcher.acquire([replica_uri(replica.id)], SERVER_CALLER, client)
        with anyio.fail_after(10):
            while censuses < 3:  # the poll goes on after a failure, and the task group is still up
                await anyio.sleep(POLL)
        assert (SERVER_CALLER, replica.id) in watcher.watched
        tg.cancel_scope.cancel()
