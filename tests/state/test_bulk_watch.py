"""Watched replicas that are not awake cost two list requests per poll interval, whatever their number; one
deleted by someone else while asleep is noticed, and its watch ends."""

from __future__ import annotations

import anyio
import pytest
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
        # Per interval for all 200: one `status=active` list read, and one page of the `status=sleeping` list
        # (the census that notices deletions); nothing is missing from it, so nothing is confirmed.
        assert idle <= 2 * (10 + 1)
        assert sandbox.faults.stats.requests.keys() <= {"GET /v1/replica"}

        woken = ids[WATCHED // 2]
        sandbox.world.org().workspaces.force_status(sandbox.world.org().workspaces.get(woken), "active")
        with anyio.fail_after(10):
            while replica_uri(woken) not in updated:
                await anyio.sleep(0.01)
        tg.cancel_scope.cancel()
    assert updated.count(replica_uri(woken)) >= 1
    assert not {uri for uri in updated if uri.startswith(replica_uri(ids[0]))}  # the others did not change


@pytest.mark.parametrize("sandbox_wake_reads", ["guide", "contract"])
async def test_a_watched_replica_deleted_by_someone_else_while_asleep_is_forgotten_and_its_watch_ends(
    sandbox: RunningSandbox,
) -> None:
    ids = add_sleeping_replicas(sandbox, 150)  # two pages of the sleeping list
    watched, deleted = ids[:5], ids[2]
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
        watcher.acquire([replica_uri(rid) for rid in watched], SERVER_CALLER, client)
        with anyio.fail_after(10):
            while (await directory.store.get(SERVER_CALLER, deleted)) is None:
                await anyio.sleep(0.01)
        await api.replicas.delete(deleted)  # not through the server: it learns nothing from this call
        sandbox.faults.stats.reset()
        with anyio.fail_after(20):
            while replica_uri(deleted) not in updated:  # its subscribers are told (they re-read: gone)
                await anyio.sleep(0.01)
        assert await directory.store.get(SERVER_CALLER, deleted) is None
        # List reads and the one confirmation that never wakes anything (a canvas listing: 404 once gone).
        assert sandbox.faults.stats.requests.keys() <= {"GET /v1/replica", "GET /v1/replica/{id}/canvas"}
        tg.cancel_scope.cancel()
    assert all(sandbox.world.org().workspaces.get(rid).status == "sleeping" for rid in ids if rid != deleted)


async def test_a_watched_archived_replica_is_never_read_to_confirm_it_exists(sandbox: RunningSandbox) -> None:
    # Neither document says a read of an archived workspace leaves it asleep: the census confirms only
    # replicas last seen sleeping, so an archived one (never in the sleeping list) costs no engine read.
    ids = add_sleeping_replicas(sandbox, 3)
    workspaces = sandbox.world.org().workspaces
    workspaces.force_status(workspaces.get(ids[1]), "archived")
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
        watcher.acquire([replica_uri(rid) for rid in ids], SERVER_CALLER, client)
        with anyio.fail_after(10):
            while (await directory.store.get(SERVER_CALLER, ids[1])) is None:
                await anyio.sleep(0.01)
        sandbox.faults.stats.reset()
        await anyio.sleep(8 * POLL)  # several whole walks of the (one-page) sleeping list
        assert "GET /v1/replica/{id}/canvas" not in sandbox.faults.stats.requests
        assert sandbox.faults.stats.requests.get("GET /v1/replica", 0) >= 4  # the walks did run
        tg.cancel_scope.cancel()
    assert workspaces.get(ids[1]).status == "archived"
