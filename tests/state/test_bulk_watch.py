"""Watched replicas that are not awake cost two list requests per poll interval, whatever their number; one
deleted by someone else while asleep is noticed, and its watch ends."""

from __future__ import annotations

import anyio
import pytest

from replicas_mcp.sandbox.serve import RunningSandbox
from replicas_mcp.server.caller import SERVER_CALLER
from replicas_mcp.server.watcher import replica_uri

from .helpers import add_sleeping_replicas, requests, watching

WATCHED = 200
POLL = 0.2


async def test_sleeping_replicas_are_watched_by_one_list_poll_and_a_wake_is_noticed_within_one(
    sandbox: RunningSandbox,
) -> None:
    ids = add_sleeping_replicas(sandbox, WATCHED)
    async with watching(sandbox, poll=POLL) as seen:
        seen.watch(ids)
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
            while replica_uri(woken) not in seen.updated:
                await anyio.sleep(0.01)
    assert seen.updated.count(replica_uri(woken)) >= 1
    assert not {
        uri for uri in seen.updated if uri.startswith(replica_uri(ids[0]))
    }  # the others did not change


@pytest.mark.parametrize("sandbox_wake_reads", ["guide", "contract"])
async def test_a_watched_replica_deleted_by_someone_else_while_asleep_is_forgotten_and_its_watch_ends(
    sandbox: RunningSandbox,
) -> None:
    ids = add_sleeping_replicas(sandbox, 150)  # two pages of the sleeping list
    watched, deleted = ids[:5], ids[2]
    async with watching(sandbox, poll=POLL) as seen:
        seen.watch(watched)
        with anyio.fail_after(10):
            while (await seen.directory.store.get(SERVER_CALLER, deleted)) is None:
                await anyio.sleep(0.01)
        await seen.api.replicas.delete(deleted)  # not through the server: it learns nothing from this call
        sandbox.faults.stats.reset()
        with anyio.fail_after(20):
            while replica_uri(deleted) not in seen.updated:  # its subscribers are told (they re-read: gone)
                await anyio.sleep(0.01)
        assert await seen.directory.store.get(SERVER_CALLER, deleted) is None
        # List reads and the one confirmation that never wakes anything (a canvas listing: 404 once gone).
        assert sandbox.faults.stats.requests.keys() <= {"GET /v1/replica", "GET /v1/replica/{id}/canvas"}
    assert all(sandbox.world.org().workspaces.get(rid).status == "sleeping" for rid in ids if rid != deleted)


async def test_a_watched_archived_replica_is_never_read_to_confirm_it_exists(sandbox: RunningSandbox) -> None:
    # Neither document says a read of an archived workspace leaves it asleep: the census confirms only
    # replicas last seen sleeping, so an archived one (never in the sleeping list) costs no engine read.
    ids = add_sleeping_replicas(sandbox, 3)
    workspaces = sandbox.world.org().workspaces
    workspaces.force_status(workspaces.get(ids[1]), "archived")
    async with watching(sandbox, poll=POLL) as seen:
        seen.watch(ids)
        with anyio.fail_after(10):
            while (await seen.directory.store.get(SERVER_CALLER, ids[1])) is None:
                await anyio.sleep(0.01)
        sandbox.faults.stats.reset()
        await anyio.sleep(8 * POLL)  # several whole walks of the (one-page) sleeping list
        assert "GET /v1/replica/{id}/canvas" not in sandbox.faults.stats.requests
        assert sandbox.faults.stats.requests.get("GET /v1/replica", 0) >= 4  # the walks did run
    assert workspaces.get(ids[1]).status == "archived"
