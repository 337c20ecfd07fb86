"""A watched replica's shared upstream stream that drops and reconnects notifies the replica's subscribers.

Neither document promises a replay after `Last-Event-ID` (the strict sandbox starts a reconnected stream at
the live end), so what was sent while the stream was down may be lost: the watcher tells the subscribers to
read again, as the events missed would have.
"""

from __future__ import annotations

import anyio

from replicas_mcp.sandbox.serve import RunningSandbox
from replicas_mcp.sandbox.workspaces.sse import EVENTS_ROUTE
from replicas_mcp.server.caller import SERVER_CALLER
from replicas_mcp.server.watcher import history_uri, replica_uri

from .helpers import watching

STREAM_OPENS = f"GET {EVENTS_ROUTE}"


async def _quiet_active_replica(sandbox: RunningSandbox) -> str:
    """An active replica whose first turn is over: its stream stays quiet but for heartbeats."""
    workspaces = sandbox.world.org().workspaces
    replica = workspaces.create(name="quiet", message="Say hello", environment_id="global")
    with anyio.fail_after(30):
        while not (
            replica.status == "active"
            and replica.turns_completed >= 1
            and not any(chat.busy or chat.processing for chat in replica.chats.values())
        ):
            await anyio.sleep(0.02)
    return replica.id


async def test_a_reconnect_of_the_upstream_stream_notifies_the_subscribers(sandbox: RunningSandbox) -> None:
    replica_id = await _quiet_active_replica(sandbox)
    # The watch's stream is cut at its first frame (a heartbeat: nothing else happens to the replica); the
    # client reconnects on its own, and the hub's upstream goes on.
    cut = sandbox.faults.drop_sse_after(0, replica_id=replica_id)
    sandbox.faults.stats.reset()
    async with watching(sandbox, poll=5.0) as seen:
        seen.watch([replica_id])
        with anyio.fail_after(30):  # a hang guard
            while replica_uri(replica_id) not in seen.updated:
                await anyio.sleep(0.01)
            while history_uri(replica_id) not in seen.updated:
                await anyio.sleep(0.01)
        assert cut.fired == 1
        assert sandbox.faults.stats.requests[STREAM_OPENS] == 2  # the first stream and its reconnect
        assert seen.updated[:2] == [replica_uri(replica_id), history_uri(replica_id)]
        assert (SERVER_CALLER, replica_id) in seen.watcher.watched  # it goes on following the stream
    replica = sandbox.world.org().workspaces.get(replica_id)
    assert replica.status == "active"  # nothing but the reconnect happened to it
