"""Waits over MCP on replicas that are still preparing when their stream opens.

A stream can be opened while the workspace prepares, so a live stream alone does not say the replica is
active: only a turn's event on it (turns run only in an active workspace) or a list read does. And a
replica can boot and run its whole turn while a wait is still opening its stream: nothing will repeat those
events, so the wait looks the replica up afresh once the stream is open.
"""

from __future__ import annotations

import anyio
import pytest
from mcp import Client

from replicas_mcp.sandbox.serve import RunningSandbox

from ..helpers import repo_environment
from .helpers import call, sandbox_client, server

pytestmark = pytest.mark.usefixtures("fast_waits")

EVENTS = "/v1/replica/{id}/events"


def _status(sandbox: RunningSandbox, replica_id: str) -> str:
    found = sandbox.world.find_replica(replica_id)
    assert found is not None
    return found[1].status


async def test_a_wait_without_a_cursor_sees_a_preparing_replica_finish_before_its_stream_opens_over_mcp(
    sandbox: RunningSandbox,
) -> None:
    """The server remembers the create's `preparing` (and serves it for a few seconds without asking):
    the wait must still notice that the replica booted and went idle while its stream was being opened."""
    async with sandbox_client(sandbox) as api, Client(server(sandbox, api)) as client:
        env = await repo_environment(api)
        started = await call(client, "delegate_task", environment_id=env, task="Quick fix", wait_s=0)
        row = started["replicas"][0]
        assert row["created"]
        rid = row["replica_id"]
        assert sandbox.faults.stats.count("GET", EVENTS) == 0  # the wait below opens the only stream
        # Boot and turn take 0.15 s at the test time scale: the stream opens well after both.
        sandbox.faults.add_latency(2.5, route=EVENTS, method="GET", times=1)
        with anyio.fail_after(15):
            waited = await call(client, "wait_for_replica", replica_id=rid, timeout_s=8)
    joined = waited["replicas"][0]
    assert sandbox.faults.stats.count("GET", EVENTS) == 1
    assert joined["done"], waited["text"]
    assert joined["state"] == "idle"


@pytest.mark.sandbox_mode(boot_seconds=100)  # 5 s at the test time scale: joins come while it prepares
async def test_a_fan_out_joined_while_its_replicas_prepare_is_not_done_before_their_turns(
    sandbox: RunningSandbox,
) -> None:
    """The first join opens the replicas' shared streams while they prepare; the next finds those streams
    live. Neither may take a live stream for "active" and the chats, idle until the boot starts the first
    message, for "done" (as a re-read of the status served from the live stream once did); each replica is
    done after its own turn."""
    async with sandbox_client(sandbox) as api, Client(server(sandbox, api)) as client:
        env = await repo_environment(api)
        tasks = [f"Task {n}" for n in range(3)]
        batch = await call(client, "delegate_task", environment_id=env, task=tasks, wait_s=0)
        ids = [row["replica_id"] for row in batch["replicas"]]
        cursors = [row["cursor"] for row in batch["replicas"]]
        early = [
            await call(client, "wait_for_replica", replica_id=ids, mode="any", timeout_s=1, cursor=cursors)
        ]
        cursors = [row["cursor"] for row in early[0]["replicas"]]
        # The streams the first join opened linger, live: a join without cursors (nothing to compare the
        # chats with) finds them so, and must still see the replicas as preparing.
        early.append(await call(client, "wait_for_replica", replica_id=ids, mode="any", timeout_s=1))
        preparing = [_status(sandbox, rid) for rid in ids]
        shown = [await call(client, "get_replica", replica_id=rid) for rid in ids]
        with anyio.fail_after(20):
            rest = await call(
                client, "wait_for_replica", replica_id=ids, mode="all", timeout_s=15, cursor=cursors
            )
    assert preparing == ["preparing"] * 3  # (else the sandbox booted them too soon for this test)
    for joined in early:
        assert [row["done"] for row in joined["replicas"]] == [False] * 3, joined["text"]
        assert [row["state"] for row in joined["replicas"]] == ["preparing"] * 3, joined["text"]
    assert [item["status"] for item in shown] == ["preparing"] * 3
    assert [row["done"] for row in rest["replicas"]] == [True] * 3, rest["text"]
    assert [row["state"] for row in rest["replicas"]] == ["idle"] * 3
    assert "3/3 done" in rest["text"]


@pytest.mark.sandbox_mode(boot_seconds=100)  # 5 s at the test time scale: the wait ends while it prepares
async def test_a_wait_on_a_preparing_replica_reads_no_chats_while_it_prepares(
    sandbox: RunningSandbox,
) -> None:
    """A replica still preparing has run no turn: its chats say nothing a wait needs, so a wait without a
    cursor opens the stream and asks the status afresh, without a chats read before or after."""
    async with sandbox_client(sandbox) as api, Client(server(sandbox, api)) as client:
        env = await repo_environment(api)
        started = await call(client, "delegate_task", environment_id=env, task="Quick fix", wait_s=0)
        rid = started["replicas"][0]["replica_id"]
        sandbox.faults.stats.reset()
        waited = await call(client, "wait_for_replica", replica_id=rid, timeout_s=1)
        assert _status(sandbox, rid) == "preparing"
    row = waited["replicas"][0]
    assert not row["done"]
    assert row["state"] == "preparing"
    assert sandbox.faults.stats.count("GET", "/v1/replica/{id}/chats") == 0
    assert sandbox.faults.stats.count("GET", EVENTS) == 1
