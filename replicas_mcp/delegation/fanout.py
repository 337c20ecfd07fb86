"""Fan-out and join: many replicas at once, within one bounded call.

`wait_many` waits on several replicas concurrently: `mode="all"` until every one is done (its condition
holds or it stopped), `mode="any"` until the first one is; the others are then cancelled, which closes
their streams and keeps their cursors exactly where their digests end.

`delegate_many` starts a list of tasks with at most `max_parallel` agents working at a time, counting the
replicas of earlier calls that are still working: a slot frees up when a replica's turn ends, and the next
pending task starts in it. Names are stable, so calling it again with the same tasks never starts one
twice: it joins the ones already running and starts the pending ones as slots free up.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import anyio

from replicas_mcp.client.errors import ReplicasError
from replicas_mcp.delegation.cursor import Cursor
from replicas_mcp.delegation.launch import NameHold, NameTaken, TaskSpec, check_reuse, launch
from replicas_mcp.delegation.memory import PROCESS_MEMORY, Memory
from replicas_mcp.delegation.phase import DEFAULT_UNTIL
from replicas_mcp.delegation.progress import Progress
from replicas_mcp.delegation.waiting import (
    CONFIRM_TIMEOUT,
    DEFAULT_POLICY,
    ReplicaWait,
    WaitOutcome,
    WaitPolicy,
    budget,
)

if TYPE_CHECKING:
    from replicas_mcp.client import ReplicasClient
    from replicas_mcp.client.models import ReplicaListItem
    from replicas_mcp.delegation.tracking import Until

JoinMode = Literal["any", "all"]


async def _run_wait(waiter: ReplicaWait) -> None:
    try:
        await waiter.run()
    except ReplicasError as exc:  # one replica's failure is its row's, not the whole join's
        waiter.error = exc


async def wait_many(
    client: ReplicasClient,
    targets: Sequence[tuple[str, Cursor | None]],
    *,
    mode: JoinMode,
    until: Until = DEFAULT_UNTIL,
    within: float,
    policy: WaitPolicy = DEFAULT_POLICY,
    progress: Progress | None = None,
    memory: Memory = PROCESS_MEMORY,
    names: Mapping[str, str] | None = None,
) -> list[WaitOutcome]:
    """One outcome per target, in order (`names`: how progress messages call a replica; default its id)."""
    progress = progress or Progress()
    progress.join(len(targets))
    labels = [(names or {}).get(rid, rid[:8]) for rid, _ in targets]  # an id's start tells it apart
    waiters = [
        ReplicaWait(
            client,
            rid,
            until=until,
            cursor=cursor,
            policy=policy,
            progress=progress.named(label),
            memory=memory,
        )
        for (rid, cursor), label in zip(targets, labels, strict=True)
    ]
    with anyio.move_on_after(budget(within)):
        async with progress.heartbeat(policy.heartbeat), anyio.create_task_group() as group:

            async def one(waiter: ReplicaWait, label: str) -> None:
                await _run_wait(waiter)
                if mode == "any":
                    group.cancel_scope.cancel()
                else:  # with any, the result follows at once and says it
                    await progress.finished(label, _said(waiter))

            for waiter, label in zip(waiters, labels, strict=True):
                group.start_soon(one, waiter, label)
    with anyio.move_on_after(CONFIRM_TIMEOUT):
        async with anyio.create_task_group() as group:
            for waiter in waiters:
                group.start_soon(waiter.confirm_queues)
    for waiter in waiters:
        await waiter.remember_failure()
    return [waiter.outcome() for waiter in waiters]


@dataclass
class Launched:
    """One task of a batch: its replica (None while pending) and what the join saw of it."""

    spec: TaskSpec
    name: str
    replica: ReplicaListItem | None = None
    created: bool = False
    outcome: WaitOutcome | None = None
    error: ReplicasError | None = None
    taken: NameTaken | None = None  # its name belongs to a replica working on another task: not started

    @property
    def pending(self) -> bool:
        return self.replica is None and self.error is None and self.taken is None


def _said(waiter: ReplicaWait) -> str:
    """A finished wait's replica state, for a progress message."""
    return "could not be followed" if waiter.error is not None else waiter.tracker.state


def _working(waiter: ReplicaWait) -> bool:
    return waiter.error is None and waiter.tracker.state in ("preparing", "working", "unknown")


async def delegate_many(
    client: ReplicasClient,
    specs: Sequence[TaskSpec],
    *,
    max_parallel: int,
    wait: float,
    policy: WaitPolicy = DEFAULT_POLICY,
    progress: Progress | None = None,
    hold: NameHold | None = None,
    memory: Memory = PROCESS_MEMORY,
) -> list[Launched]:
    """Start (or find) each task's replica, keep at most `max_parallel` working, and join them
    (`hold`: the name lock of `launch`; `memory`: what is known of replicas' tasks and failures).

    Raises ValueError when two tasks have the same name.
    """
    progress = progress or Progress()
    progress.join(len(specs))
    rows = [Launched(spec=spec, name=spec.replica_name) for spec in specs]
    names = [row.name for row in rows]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"several tasks share the name(s) {', '.join(duplicates)}: names must be unique")
    known = await client.replicas.find_by_names(names)
    deadline = time.monotonic() + budget(wait)
    slots = anyio.Semaphore(max_parallel)
    waiters: dict[int, ReplicaWait] = {}

    def remaining() -> float:
        return max(0.0, deadline - time.monotonic())

    def waiter_for(
        index: int, replica_id: str, cursor: Cursor | None, launched: float | None = None
    ) -> ReplicaWait:
        waiters[index] = ReplicaWait(
            client,
            replica_id,
            until=DEFAULT_UNTIL,
            cursor=cursor,
            policy=policy,
            progress=progress.named(rows[index].name),
            memory=memory,
            launched=launched,
        )
        return waiters[index]

    async def join(index: int, holds_slot: bool) -> None:
        """Wait for the row's replica until its turn ends or time is up; free its slot if it ended."""
        waiter = waiters[index]
        with anyio.move_on_after(remaining()) as timer:
            await _run_wait(waiter)
        if holds_slot and not _working(waiter):
            slots.release()
        if not timer.cancelled_caught:
            await progress.finished(rows[index].name, _said(waiter))

    async def start(index: int) -> None:
        row = rows[index]
        try:
            slots.acquire_nowait()  # free slots are used even when there is no time to wait
        except anyio.WouldBlock:
            with anyio.move_on_after(remaining()) as timer:
                await slots.acquire()
            if timer.cancelled_caught:
                return  # no slot freed up in time: still pending
        try:
            row.replica, row.created = await launch(client, row.spec, hold, memory)
        except ReplicasError as exc:
            row.error = exc
            slots.release()
            return
        except NameTaken as exc:  # created by someone else meanwhile, for another task
            row.taken = exc
            slots.release()
            return
        rid, created = row.replica.id, row.created
        waiter_for(index, rid, Cursor.start(rid) if created else None, time.monotonic() if created else None)
        await join(index, holds_slot=True)

    # Replicas of earlier calls: see which are still working; those take their slots first.
    async def reuse(index: int, row: Launched, existing: ReplicaListItem) -> None:
        try:
            await check_reuse(client, row.spec, existing, memory)
        except NameTaken as exc:
            row.taken = exc
            return
        row.replica = existing
        await _probe(waiter_for(index, existing.id, None), existing)

    async with anyio.create_task_group() as group:
        for index, row in enumerate(rows):
            existing = known.get(row.name)
            if existing is not None:
                group.start_soon(reuse, index, row, existing)
    for index, earlier in waiters.items():
        if not _working(earlier):  # done before this call: counted as done from the start
            await progress.finished(rows[index].name, _said(earlier))
    async with progress.heartbeat(policy.heartbeat), anyio.create_task_group() as group:
        for index in range(len(rows)):
            waiter = waiters.get(index)
            if waiter is not None and _working(waiter):
                try:
                    slots.acquire_nowait()
                    holds_slot = True
                except anyio.WouldBlock:
                    holds_slot = False  # already running beyond the limit: joined, not counted
                group.start_soon(join, index, holds_slot)
        for index, row in enumerate(rows):
            if row.pending:
                group.start_soon(start, index)
    for index, row in enumerate(rows):
        waiter = waiters.get(index)
        if waiter is not None:
            await waiter.remember_failure()
            row.outcome = waiter.outcome()
            row.error = row.error or waiter.error
    return rows


async def _probe(waiter: ReplicaWait, item: ReplicaListItem) -> None:
    try:
        await waiter.probe(item)
    except ReplicasError as exc:
        waiter.error = exc
