"""Waits against the time-scaled sandbox: resumable, bounded, cancellable, and surviving stream faults."""

from __future__ import annotations

import asyncio
import time

import anyio

from replicas_mcp.client import ReplicasClient
from replicas_mcp.delegation import (
    ChatsSnapshot,
    Cursor,
    Progress,
    TaskSpec,
    WaitOutcome,
    launch,
    phase,
    read_chats,
    wait_for_replica,
)
from replicas_mcp.delegation.answers import ANSWERS
from replicas_mcp.delegation.waiting import MAX_TIMEOUT, budget
from replicas_mcp.sandbox.serve import RunningSandbox

from ..helpers import eventually, force_status, repo_environment
from .helpers import BOTH_REPLAYS, FAST, event_log, sandbox_client


async def _start(client: ReplicasClient, task: str) -> str:
    item, created = await launch(client, TaskSpec(await repo_environment(client), task))
    assert created
    return item.id


async def _wait_in_steps(client: ReplicasClient, replica_id: str, step: float) -> list[WaitOutcome]:
    """Bounded waits, each resuming from the previous cursor, until the turn completes."""
    cursor = Cursor.start(replica_id)
    outcomes: list[WaitOutcome] = []
    with anyio.fail_after(20):
        while not outcomes or not outcomes[-1].satisfied:
            outcome = await wait_for_replica(client, replica_id, within=step, cursor=cursor, policy=FAST)
            outcomes.append(outcome)
            cursor = outcome.cursor
    return outcomes


@BOTH_REPLAYS
async def test_bounded_waits_with_cursors_lose_and_repeat_nothing(
    sandbox: RunningSandbox, replays: bool
) -> None:
    async with sandbox_client(sandbox) as client:
        rid = await _start(client, "Add a health endpoint [[slow:20]] [[pr]]")  # 1 s of real time
        outcomes = await _wait_in_steps(client, rid, step=0.25)
        log = event_log(sandbox, rid)
    assert len(outcomes) >= 3  # it really took several bounded calls
    assert all(o.timed_out for o in outcomes[:-1])
    assert outcomes[-1].state == "idle"
    assert outcomes[-1].cursor.event_id == log.event_id(log.last_seq)
    # The PR was reported exactly once, whether or not the API replays after the cursor...
    assert [url for o in outcomes for url in o.digest.prs] == list(_prs(sandbox, rid))
    # ...and no event was counted twice; with replay, every event the sandbox published was counted, and
    # so was the turn (without, those sent between two calls are not heard: the chats tell the turn ended).
    counted = sum(o.digest.events for o in outcomes)
    assert counted == log.last_seq if replays else counted < log.last_seq
    assert sum(o.digest.turns for o in outcomes) == 1 if replays else outcomes[-1].satisfied


def _prs(sandbox: RunningSandbox, replica_id: str) -> list[str]:
    found = sandbox.world.find_replica(replica_id)
    assert found is not None
    return [pr["url"] for pr in found[1].pull_requests]


async def test_a_wait_times_out_and_reports_progress(sandbox: RunningSandbox) -> None:
    seen: list[tuple[float, str]] = []

    async def sink(progress: float, total: float | None, message: str) -> None:
        seen.append((progress, message))

    async with sandbox_client(sandbox) as client:
        rid = await _start(client, "Refactor the parser [[slow:600]]")  # 30 s of real time
        with anyio.fail_after(10):
            outcome = await wait_for_replica(
                client, rid, within=1.5, cursor=Cursor.start(rid), policy=FAST, progress=Progress(sink)
            )
    assert outcome.timed_out
    assert not outcome.satisfied
    assert outcome.state == "working"
    assert seen, "progress notifications arrive during the wait"
    assert [p for p, _ in seen] == sorted({p for p, _ in seen})  # strictly increasing
    assert "agent started a turn" in [m for _, m in seen]
    assert "still waiting" in [m for _, m in seen]  # the heartbeat covers quiet stretches


def test_a_wait_stops_a_little_before_its_timeout() -> None:
    assert budget(40) == 39.5
    assert budget(1) == 0.95
    assert budget(0) == 0
    assert budget(600) == MAX_TIMEOUT - 0.5


async def test_many_waits_timing_out_together_all_return_timed_out(sandbox: RunningSandbox) -> None:
    """Waits that all time out at once on one event loop each return their outcome (how soon is the bench's
    business, not a test's: `budget` ends them early so that they fit inside their bound)."""
    async with sandbox_client(sandbox) as client:
        rids = [await _start(client, f"Long job {n} [[slow:600]]") for n in range(5)]
        took: list[float] = []

        async def one(index: int) -> None:
            started = time.monotonic()
            rid = rids[index % 5]
            outcome = await wait_for_replica(client, rid, until="needs_input", within=2, policy=FAST)
            took.append(time.monotonic() - started)
            assert outcome.timed_out

        with anyio.fail_after(10):
            async with anyio.create_task_group() as group:
                for index in range(50):
                    group.start_soon(one, index)
    assert len(took) == 50
    print(f"\n50 concurrent waits, timeout 2 s: {min(took):.2f}-{max(took):.2f} s")


async def test_cancelling_a_wait_closes_the_stream_and_leaks_no_task(sandbox: RunningSandbox) -> None:
    async with sandbox_client(sandbox) as client:
        rid = await _start(client, "Long job [[slow:600]]")
        log = event_log(sandbox, rid)
        before = len(asyncio.all_tasks())

        async def closed_and_no_task_left() -> bool:
            # The sandbox sees the connection close first; its request task (in this loop too) ends a few
            # steps later, so the count is waited for, not sampled at once. A leaked task never ends.
            return log.subscribers == 0 and len(asyncio.all_tasks()) <= before

        with anyio.fail_after(10):
            async with anyio.create_task_group() as group:
                group.start_soon(lambda: wait_for_replica(client, rid, within=30, cursor=None, policy=FAST))
                while log.subscribers == 0:
                    await anyio.sleep(0.02)
                group.cancel_scope.cancel()
        await eventually(closed_and_no_task_left)


@BOTH_REPLAYS
async def test_a_stream_dropped_mid_wait_is_survived(sandbox: RunningSandbox, replays: bool) -> None:
    async with sandbox_client(sandbox) as client:
        rid = await _start(client, "Fix the flaky test [[slow:10]]")
        sandbox.faults.drop_sse_after(4, replica_id=rid, times=2)  # cut twice, after 4 events each
        outcomes = await _wait_in_steps(client, rid, step=5)
        log = event_log(sandbox, rid)
    assert outcomes[-1].satisfied
    assert outcomes[-1].state == "idle"
    counted = sum(o.digest.events for o in outcomes)
    # Resumed without repeats; without loss only when the API replays after `Last-Event-ID`.
    assert counted == log.last_seq if replays else counted <= log.last_seq


async def test_a_turn_that_ends_while_the_stream_is_down_ends_the_wait(sandbox: RunningSandbox) -> None:
    """The strict sandbox does not replay after `Last-Event-ID`: the turn's end, sent while the stream was
    down, never arrives on the reconnected stream. The wait looks at the chats once after the reconnect and
    is done then, not at its timeout."""
    async with sandbox_client(sandbox) as client:
        rid = await _start(client, "Tidy the imports")
        with anyio.fail_after(20):
            first = await wait_for_replica(client, rid, within=15, cursor=Cursor.start(rid), policy=FAST)
        assert first.satisfied
        events = "/v1/replica/{id}/events"
        # The next stream is cut at its first frame; its reconnect is held well past the turn's end (the
        # first open takes the instant latency rule, the reconnect the slow one).
        sandbox.faults.drop_sse_after(0, replica_id=rid)
        sandbox.faults.add_latency(0.0, route=events, method="GET", times=1)
        sandbox.faults.add_latency(3.0, route=events, method="GET", times=1)
        await client.replicas.send_message(rid, "Now sort them too [[slow:20]]")  # 1 s of real time
        sandbox.faults.stats.reset()
        with anyio.fail_after(40):  # a hang guard only
            outcome = await wait_for_replica(client, rid, within=30, cursor=first.cursor, policy=FAST)
    assert outcome.satisfied
    assert not outcome.timed_out
    assert outcome.state == "idle"
    assert outcome.source == "stream"  # the stream came back; the wait did not fall back to polling
    assert sandbox.faults.stats.count("GET", events) == 2  # opened, then reconnected once
    # A look before the stream opens and one right after (it need not resume at the cursor), both while
    # the turn runs; one after the reconnect (the turn's end was sent meanwhile): that one ends the wait.
    assert sandbox.faults.stats.count("GET", "/v1/replica/{id}/chats") == 3


async def test_without_a_stream_it_polls_the_list_and_chats(sandbox: RunningSandbox) -> None:
    async with sandbox_client(sandbox) as client:
        rid = await _start(client, "Update the docs [[slow:10]]")
        sandbox.faults.inject_status(503, route="/v1/replica/{id}/events", times=None)
        with anyio.fail_after(15):
            outcome = await wait_for_replica(client, rid, within=10, cursor=Cursor.start(rid), policy=FAST)
    assert outcome.satisfied
    assert outcome.state == "idle"
    assert outcome.source == "polling"


async def test_a_sleeping_replica_ends_the_wait_at_once_without_waking(sandbox: RunningSandbox) -> None:
    async with sandbox_client(sandbox) as client:
        rid = await _start(client, "Quick fix")
        with anyio.fail_after(10):
            await wait_for_replica(client, rid, within=5, cursor=Cursor.start(rid), policy=FAST)
            await force_status(sandbox, rid, "sleeping")
            outcome = await wait_for_replica(client, rid, within=5, policy=FAST)
            status = await client.replicas.status(rid)
    assert outcome.state == "sleeping"
    assert not outcome.timed_out
    assert status is not None
    assert status.status == "sleeping"


async def test_a_workspace_error_ends_the_wait(sandbox: RunningSandbox) -> None:
    async with sandbox_client(sandbox) as client:
        rid = await _start(client, "Crash please [[error: disk full]]")
        with anyio.fail_after(10):
            outcome = await wait_for_replica(client, rid, within=5, cursor=Cursor.start(rid), policy=FAST)
    assert outcome.state == "error"
    assert "disk full" in outcome.digest.errors


async def test_a_question_answered_here_is_not_read_again_while_the_history_lags(
    sandbox: RunningSandbox,
) -> None:
    """Right after an answer is sent, the engine may not have written the paused call's result yet: a look
    must not report the agent as asking (a wait would be "done" before the answer was worked on)."""
    async with sandbox_client(sandbox) as client:
        rid = await _start(client, "Add a users endpoint [[ask: Which status code?]]")
        with anyio.fail_after(10):
            while (snapshot := await _look(client, rid)) is None or not snapshot.questions:
                await anyio.sleep(0.05)
        [chat] = snapshot.chats
        ANSWERS.answered(rid, chat.id)  # what send_replica_message notes, before the engine took the answer
        lagging = await _look(client, rid)
        outcome = await wait_for_replica(client, rid, within=0.5, policy=FAST)
    assert snapshot.questions == ["Which status code?"]
    assert lagging is not None
    assert lagging.questions == []
    assert phase("active", lagging.facts().values()) == "working"
    assert outcome.state == "working"
    assert not outcome.satisfied


async def _look(client: ReplicasClient, replica_id: str) -> ChatsSnapshot | None:
    status = await client.replicas.status(replica_id)
    return await read_chats(client, replica_id) if status is not None and status.status == "active" else None


async def test_a_wait_without_a_cursor_sees_a_preparing_replica_finish_before_its_stream_opens(
    sandbox: RunningSandbox,
) -> None:
    """The replica boots and runs its whole turn while the wait's stream is being opened (held back here
    by latency): the stream starts after those events, so only a fresh look tells the wait
    that the replica is no longer preparing, and is done. (Under load the same happens without latency:
    test_a_batch_respects_max_parallel_and_never_duplicates then saw joins time out in 'preparing'.) The
    wait reads the record again, freshly, once its stream stays quiet for `heartbeat` (waiting.py `_next`),
    not right after opening: a boot still going on shows in the stream first."""
    async with sandbox_client(sandbox) as client:
        rid = await _start(client, "Quick fix")  # preparing: created just now
        # Boot and turn take 0.15 s at the test time scale: the stream opens well after both.
        sandbox.faults.add_latency(2.5, route="/v1/replica/{id}/events", method="GET", times=1)
        with anyio.fail_after(10):
            outcome = await wait_for_replica(client, rid, within=5, cursor=None, policy=FAST)
    assert outcome.satisfied, outcome
    assert outcome.state == "idle"


async def test_a_heartbeat_in_a_background_group_beats_while_quiet_and_never_after_its_block() -> None:
    """The server's waits beat in its lifespan task group, so that a result goes out without joining a task
    first; leaving the block ends the beat, and a sink that fails never fails that group."""
    seen: list[str] = []

    async def sink(progress: float, total: float | None, message: str) -> None:
        seen.append(message)

    async def gone(progress: float, total: float | None, message: str) -> None:
        raise RuntimeError("the client went away")

    with anyio.fail_after(10):
        async with anyio.create_task_group() as background:
            async with Progress(sink, background=background).heartbeat(0.05):
                while len(seen) < 2:
                    await anyio.sleep(0.01)
            beats = len(seen)
            async with Progress(gone, background=background).heartbeat(0.01):
                await anyio.sleep(0.1)
            await anyio.sleep(0.2)
    assert seen[:2] == ["still waiting", "still waiting"]
    assert len(seen) == beats  # none after the block
