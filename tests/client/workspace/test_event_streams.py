"""Engine event streams: resuming after a drop, replay from Last-Event-ID, the end on 404/409 and on sleep,
and a cancelled stream closing its connection."""

from __future__ import annotations

import anyio
import pytest

from replicas_mcp.client import ReplicasClient
from replicas_mcp.client.errors import (
    NotFoundError,
    WorkspaceSleepingError,
)
from replicas_mcp.client.models import EngineEvent
from replicas_mcp.sandbox.serve import RunningSandbox

from ...helpers import force_status
from .helpers import (
    DEADLINE,
    active_replica,
    stats,
    wait_idle,
)

# --- events --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("replay", [False, True], ids=["live", "replay"])
async def test_event_stream_resumes_after_a_drop(
    client: ReplicasClient, canary_sandbox: RunningSandbox, replay: bool
) -> None:
    """The stream reconnects with `Last-Event-ID` and never repeats an event; it loses none only when the
    API replays after that id (an extension: neither the guide nor the contract promises it)."""
    replica = await active_replica(client, "streamer")
    await wait_idle(client, replica.id)
    canary_sandbox.faults.drop_sse_after(2, replica_id=replica.id)
    received: list[EngineEvent] = []
    stream = client.events.stream(replica.id)
    with anyio.fail_after(DEADLINE):
        async with stream as events:
            await client.replicas.send_message(replica.id, "Refactor the parser")
            async for event in events:
                received.append(event)
                if event.type == "chat.turn.completed":
                    break
    assert stream.reconnects == 1
    assert stats(canary_sandbox, "GET", "/v1/replica/{id}/events") == 2
    ids = [event.id for event in received]
    assert len(ids) == len(set(ids)), "an event was repeated"
    found = canary_sandbox.world.find_replica(replica.id)
    assert found is not None
    logged = [event.id for event in found[1].events.since(0)]
    start = logged.index(ids[0])
    assert ids == sorted(ids, key=logged.index), "events came out of order"
    if replay:
        assert ids == logged[start : start + len(ids)], "an event was lost"
    assert len(ids) > 2  # some came after the drop
    assert all(isinstance(event.payload, dict) for event in received)


@pytest.mark.parametrize("replay", [True])  # the sandbox's extension (docs/sandbox.md)
async def test_event_stream_replays_from_last_event_id(
    client: ReplicasClient, canary_sandbox: RunningSandbox
) -> None:
    replica = await active_replica(client, "replayer")
    await wait_idle(client, replica.id)
    found = canary_sandbox.world.find_replica(replica.id)
    assert found is not None
    logged = [event.id for event in found[1].events.since(0)]
    with anyio.fail_after(DEADLINE):
        async with client.events.stream(replica.id, last_event_id=logged[0]) as events:
            replayed = [await anext(events) for _ in logged[1:]]
    assert [event.id for event in replayed] == logged[1:]


async def test_event_stream_stops_on_404_and_409(
    client: ReplicasClient, canary_sandbox: RunningSandbox
) -> None:
    with anyio.fail_after(DEADLINE), pytest.raises(NotFoundError):
        async with client.events.stream("00000000-0000-0000-0000-000000000000"):
            pass
    replica = await active_replica(client, "napper")
    await force_status(canary_sandbox, replica.id, "sleeping")
    with anyio.fail_after(DEADLINE), pytest.raises(WorkspaceSleepingError):
        async with client.events.stream(replica.id):
            pass


async def test_event_stream_ends_when_the_workspace_sleeps(
    client: ReplicasClient, canary_sandbox: RunningSandbox
) -> None:
    replica = await active_replica(client, "dozer")
    await wait_idle(client, replica.id)
    opened = anyio.Event()

    async def read_all() -> None:
        async with client.events.stream(replica.id) as events:
            opened.set()
            async for _event in events:
                pass

    async def consume() -> None:
        # The server ends the stream; the reconnect is answered 409, which ends the iteration.
        with pytest.raises(WorkspaceSleepingError):
            await read_all()

    with anyio.fail_after(DEADLINE):
        async with anyio.create_task_group() as tg:
            tg.start_soon(consume)
            await opened.wait()
            await force_status(canary_sandbox, replica.id, "sleeping")


async def test_cancelling_a_stream_closes_its_connection(
    client: ReplicasClient, canary_sandbox: RunningSandbox
) -> None:
    replica = await active_replica(client, "cancelled")
    found = canary_sandbox.world.find_replica(replica.id)
    assert found is not None
    log = found[1].events
    with anyio.move_on_after(0.3):
        async with client.events.stream(replica.id) as events:
            async for _event in events:
                pass
    with anyio.fail_after(DEADLINE):
        while log.subscribers:
            await anyio.sleep(0.02)
