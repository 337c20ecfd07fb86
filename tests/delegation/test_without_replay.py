"""Waits are right whether or not the API replays the event stream after `Last-Event-ID`.

Neither the guide nor the contract says it does (the contract: `data: <JSON>` messages, a heartbeat, and
"clients should reconnect automatically"), so the strict sandbox does not (docs/sandbox.md): a stream
opened with a cursor starts at the live end. A turn that ended while nobody read the stream must still be
noticed (the wait reads the chats once the stream is open and compares them with the cursor). The
replaying sandbox (`replay=True`) is the case where every event is also counted.
"""

from __future__ import annotations

import time
from typing import Any

import anyio
import pytest
from mcp import Client

from replicas_mcp.client import ReplicasClient
from replicas_mcp.delegation import Cursor, TaskSpec, launch, wait_for_replica
from replicas_mcp.sandbox.serve import RunningSandbox
from replicas_mcp.server.state import streams

from ..helpers import repo_environment
from ..state.helpers import watching
from .helpers import BOTH_REPLAYS, FAST, call, sandbox_client, server

pytestmark = pytest.mark.usefixtures("fast_waits")


def _replica(sandbox: RunningSandbox, replica_id: str) -> Any:
    found = sandbox.world.find_replica(replica_id)
    assert found is not None
    return found[1]


async def _first_turn_ended(sandbox: RunningSandbox, replica_id: str) -> None:
    """Until the sandbox has run the first turn to its end (nobody reading the stream meanwhile)."""
    replica = _replica(sandbox, replica_id)
    with anyio.fail_after(10):
        while not (
            replica.status == "active"
            and replica.turns_completed >= 1
            and not any(chat.busy or chat.processing for chat in replica.chats.values())
        ):
            await anyio.sleep(0.02)


async def _launch(client: ReplicasClient, task: str) -> str:
    item, created = await launch(client, TaskSpec(await repo_environment(client), task))
    assert created
    return item.id


def test_the_strict_sandbox_fixture_does_not_replay(sandbox: RunningSandbox) -> None:
    assert not sandbox.world.fidelity.replays  # what the rest of this suite runs against by default


@BOTH_REPLAYS
async def test_a_start_cursor_whose_first_turn_already_ended_is_done(
    sandbox: RunningSandbox, replays: bool
) -> None:
    assert sandbox.world.fidelity.replays is replays
    async with sandbox_client(sandbox) as client:
        rid = await _launch(client, "Add a health endpoint [[pr]]")
        await _first_turn_ended(sandbox, rid)
        outcome = await wait_for_replica(client, rid, within=5, cursor=Cursor.start(rid), policy=FAST)
    assert outcome.satisfied, outcome
    assert not outcome.timed_out
    assert outcome.state == "idle"
    assert outcome.digest.prs == [pr["url"] for pr in _replica(sandbox, rid).pull_requests]


@BOTH_REPLAYS
@pytest.mark.parametrize(
    ("restarted", "linger"),
    [(False, None), (False, 0.0), (True, None)],
    ids=["same-server", "same-server-stream-closed", "restarted-server"],
)
async def test_delegate_without_waiting_then_wait_after_the_turn_ended(
    sandbox: RunningSandbox,
    replays: bool,
    restarted: bool,
    linger: float | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`delegate_task(wait_s=0)` hands back a start cursor; the first turn ends before anybody waits;
    `wait_for_replica` with that cursor reports it done (not a time-out), with its PR, and the report is
    complete. Asked of the same server (its shared stream of the replica may still be open) or of a new one
    (nothing shared: the wait opens a stream from the cursor, which a non-replaying API starts live). With
    the stream closed at once, the same server still holds the replica's list record from its create
    ("preparing"): the wait must not take that for the truth once the chats show the turn over."""
    if linger is not None:
        monkeypatch.setattr(streams, "DEFAULT_LINGER", linger)
    assert sandbox.world.fidelity.replays is replays
    async with sandbox_client(sandbox) as api:
        env = await repo_environment(api)
        async with Client(server(sandbox, api)) as first:
            task = "Add a README [[pr]]"
            started = await call(first, "delegate_task", environment_id=env, task=task, wait_s=0)
            row = started["replicas"][0]
            rid = row["replica_id"]
            assert not row["done"]
            await _first_turn_ended(sandbox, rid)
            if not restarted:
                run, waited = await _wait(first, rid, row["cursor"])
        if restarted:
            async with Client(server(sandbox, api)) as second:
                run, waited = await _wait(second, rid, row["cursor"])
    assert run["done"], waited["text"]
    assert run["state"] == "idle"
    prs = [pr["url"] for pr in _replica(sandbox, rid).pull_requests]
    assert prs
    assert [item for item in run["news"] if item.startswith("PR ")] == [f"PR {url}" for url in prs]
    assert waited["report"]["outcome"] == "completed"
    assert waited["report"]["prs"] == prs
    # Asked again with the returned cursor, nothing new: the PR is not reported twice.
    assert not [item for item in waited["again"]["news"] if item.startswith("PR ")]
    assert Cursor.decode(run["cursor"], replica_id=rid).busy is False


async def _wait(client: Client, replica_id: str, cursor: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """wait_for_replica with the cursor, the report, and a second wait with the cursor it returned."""
    waited = await call(client, "wait_for_replica", replica_id=replica_id, timeout_s=5, cursor=cursor)
    run = waited["replicas"][0]
    waited["report"] = await call(client, "get_replica_result", replica_id=replica_id)
    again = await call(client, "wait_for_replica", replica_id=replica_id, timeout_s=1, cursor=run["cursor"])
    waited["again"] = again["replicas"][0]
    return run, waited


@BOTH_REPLAYS
async def test_a_boot_and_first_turn_faster_than_the_stream_are_still_seen(
    sandbox: RunningSandbox, replays: bool
) -> None:
    """A wait that follows its replica's create does not look at the list when the stream opens (the boot is
    ahead, and its events will come). Should the boot and the whole first turn have beaten the stream, the
    quiet stream of a replica still thought `preparing` makes the wait ask the list after a heartbeat: the
    turn is seen, with its PR, late but well within the wait."""
    assert sandbox.world.fidelity.replays is replays
    async with watching(sandbox, poll=5.0) as seen:
        rid = await _launch(seen.client, "Add a health endpoint [[pr]]")
        await _first_turn_ended(sandbox, rid)
        known = await seen.client.replicas.status(rid)
        assert known is not None
        assert known.status == "preparing"  # the server's knowledge still holds what the create said
        outcome = await wait_for_replica(
            seen.client, rid, within=5, cursor=Cursor.start(rid), policy=FAST, launched=time.monotonic()
        )
    assert outcome.satisfied, outcome
    assert not outcome.timed_out
    assert outcome.state == "idle"
    assert outcome.digest.prs == [pr["url"] for pr in _replica(sandbox, rid).pull_requests]
