"""Watched replicas that are not awake cost one list request per poll interval, whatever their number."""

from __future__ import annotations

import anyio
from mcp.server.subscriptions import ResourceUpdated, ServerEvent

from replicas_mcp.client import ReplicasClient
from replicas_mcp.sandbox.serve import RunningSandbox
from replicas_mcp.server.caller import SERVER_CALLER
from replicas_mcp.server.state.directory import ReplicaDirectory
from replicas_mcp.server.state.knowledge import MemoryKnowledge
from replicas_mcp.server.state.streams import SharedStreams
from replicas_mcp.server.state.view import KnowingClient
from replicas_mcp.server.watcher import CallerBus, ReplicaWatcher, replica_uri

from .helpers import add_sleeping_replicas, requests

WATCHED = 200
POLL = 0.2


async def test_sleeping_replicas_are_watched_by_one_list_poll_and_a_wake_is_noticed_within_one(
    sandbox: RunningSandbox,
) -> None:
    ids = add_sleeping_replicas(sandbox, WATCHED)
    updated: list[str] = []

    def listener(event: ServerEvent) -> None:
        if isinstance(event, ResourceUpdated):
            updated.append(str(event.uri))

    async with (
        ReplicasClient(api_key=sandbox.org_key, base_url=sandbox.base_url) as api,
        anyio.create_task_group() as tg,
    ):
        streams = SharedStreams(tg)
        directory = ReplicaDirectory(MemoryKnowledge(), is_live=streams.has_live)
        client = KnowingClient(api, directory, streams, caller=SERVER_CALLER)
        bus = CallerBus(lambda: SERVER_CALLER)
        bus.subscribe(listener)
        watcher = ReplicaWatcher(bus, tg, poll_interval=POLL, streams=streams, directory=directory)
        watcher.acquire([replica_uri(rid) for rid in ids], SERVER_CALLER, client)
        await anyio.sleep(3 * POLL)  # every watch has looked its replica up once
        sandbox.faults.stats.reset()
        await anyio.sleep(10 * POLL)
        idle = requests(sandbox)
        assert idle <= 10 + 1  # one `status=active` list read per interval for all 200
        assert sandbox.faults.stats.requests.keys() <= {"GET /v1/replica"}

        woken = ids[WATCHED // 2]
        sandbox.world.org().workspaces.force_status(sandbox.world.org().workspaces.get(woken), "active")
        with anyio.fail_after(10):
            while replica_uri(woken) not in updated:
                await anyio.sleep(0.01)
        tg.cancel_scope.cancel()
    assert updated.count(replica_uri(woken)) >= 1
    assert not {uri for uri in updated if uri.startswith(replica_uri(ids[0]))}  # the others did not change
