"""Waits are right whether or not the API replays the event stream after `Last-Event-ID`.

Neither the guide nor the contract says it does (the contract: `data: <JSON>` messages, a heartbeat, and
"clients should reconnect automatically"), so the strict sandbox does not (docs/sandbox.md): a stream
opened with a cursor starts at the live end. A turn that ended while nobody read the stream must still be
noticed (the wait reads the chats once the stream is open and compares them with the cursor). The
replaying sandbox (`replay=True`) is the case where every event is also counted.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
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


@asynccontextmanager
async def _client(sandbox: RunningSandbox, shared: bool) -> AsyncIterator[ReplicasClient]:
    """A plain client (each wait opens a stream of its own) or the server's view (one shared upstream)."""
    if shared:
        async with watching(sandbox, poll=5.0) as seen:
            yield seen.client
    else:
        async with sandbox_client(sandbox) as client:
            yield client


@BOTH_REPLAYS
@pytest.mark.parametrize("shared", [False, True], ids=["own-stream", "shared-stream"])
async def test_a_start_cursor_whose_first_turn_already_ended_is_done(
    sandbox: RunningSandbox, replays: bool, shared: bool
) -> None:
    """The turn ended before the wait: it is counted once, whether it was heard (a replaying API sends its
    events) or not (the chats say it is over), and a wait from the returned cursor has nothing new."""
    assert sandbox.world.fidelity.replays is replays
    async with _client(sandbox, shared) as client:
        rid = await _launch(client, "Add a health endpoint [[pr]]")
        await _first_turn_ended(sandbox, rid)
        outcome = await wait_for_replica(client, rid, within=5, cursor=Cursor.start(rid), policy=FAST)
        again = await wait_for_replica(client, rid, within=1, cursor=outcome.cursor, policy=FAST)
    assert outcome.satisfied, outcome
    assert not outcome.timed_out
    assert outcome.state == "idle"
    assert outcome.digest.prs == [pr["url"] for pr in _replica(sandbox, rid).pull_requests]
    assert outcome.digest.turns == 1, outcome.digest
    assert again.satisfied, again
    assert again.digest.turns == 0, again.digest
    assert not again.digest.prs


@BOTH_REPLAYS
@pytest.mark.parametrize("shared", [False, True], ids=["own-stream", "shared-stream"])
async def test_a_wait_that_reads_on_after_the_look_counts_the_ended_turn_once(
    sandbox: RunningSandbox, replays: bool, shared: bool
) -> None:
    """A wait for a question does not end when the look finds the first turn over: it reads on, and an API
    that replays then sends that turn's events (after the look, on a stream of the wait's own). The turn is
    still one: the look counted it, its late completion stands for it."""
    assert sandbox.world.fidelity.replays is replays
    async with _client(sandbox, shared) as client:
        rid = await _launch(client, "Add a health endpoint")
        await _first_turn_ended(sandbox, rid)
        outcome = await wait_for_replica(
            client, rid, until="needs_input", within=1, cursor=Cursor.start(rid), policy=FAST
        )
    assert outcome.timed_out  # nothing asks
    assert outcome.state == "idle"
    assert outcome.digest.turns == 1, outcome.digest
    if replays:
        assert outcome.digest.events > 0  # the turn's events were heard too


@BOTH_REPLAYS
@pytest.mark.parametrize("shared", [False, True], ids=["own-stream", "shared-stream"])
@pytest.mark.parametrize("task", ["Add a health endpoint", "Add a health endpoint [[slow:60]]"])
async def test_a_wait_from_the_returned_cursor_that_reads_on_does_not_count_the_turn_again(
    sandbox: RunningSandbox, replays: bool, shared: bool, task: str
) -> None:
    """The look counted the turn; its events, which an API that replays would send after the cursor, must
    not count it again in the next wait, even one that reads on (a wait for a question). The cursor the
    wait started from points before the first event (a start cursor) or into the turn (a wait that timed
    out while the agent worked)."""
    assert sandbox.world.fidelity.replays is replays
    async with _client(sandbox, shared) as client:
        rid = await _launch(client, task)
        cursor = Cursor.start(rid)
        if "slow" in task:  # a wait that times out before the turn ends: its cursor is inside the turn
            early = await wait_for_replica(client, rid, within=1, cursor=cursor, policy=FAST)
            assert early.timed_out, early
            assert early.digest.turns == 0
            cursor = early.cursor
        await _first_turn_ended(sandbox, rid)
        outcome = await wait_for_replica(client, rid, within=5, cursor=cursor, policy=FAST)
        again = await wait_for_replica(
            client, rid, until="needs_input", within=1, cursor=outcome.cursor, policy=FAST
        )
    assert outcome.state == "idle"
    assert outcome.digest.turns == 1, outcome.digest
    assert again.timed_out
    assert again.digest.turns == 0, again.digest


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
    assert _turns(waited["text"]) == 1, waited["text"]  # what the model reads: the turn ended, once
    # Asked again with the returned cursor, nothing new: the PR and the turn are not reported twice.
    assert not [item for item in waited["again"]["news"] if item.startswith("PR ")]
    assert _turns(waited["again_text"]) == 0, waited["again_text"]
    assert Cursor.decode(run["cursor"], replica_id=rid).busy is False


async def _wait(client: Client, replica_id: str, cursor: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """wait_for_replica with the cursor, the report, and a second wait with the cursor it returned."""
    waited = await call(client, "wait_for_replica", replica_id=replica_id, timeout_s=5, cursor=cursor)
    run = waited["replicas"][0]
    waited["report"] = await call(client, "get_replica_result", replica_id=replica_id)
    again = await call(client, "wait_for_replica", replica_id=replica_id, timeout_s=1, cursor=run["cursor"])
    waited["again"], waited["again_text"] = again["replicas"][0], again["text"]
    return run, waited


def _turns(text: str) -> int:
    """The turns a result's text says were completed (the row says nothing when there were none)."""
    counts = [int(found) for found in re.findall(r"(\d+) turn\(s\) completed", text)]
    assert len(counts) <= 1, text
    return counts[0] if counts else 0


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
