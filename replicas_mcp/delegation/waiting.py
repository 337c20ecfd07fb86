"""Bounded, resumable waits on a replica: its event stream first, the list endpoint when that fails.

    outcome = await wait_for_replica(client, replica_id, within=40, cursor=c)   # until="idle"

The loop:
1. Look the replica up in the list endpoint (never wakes it). Gone, sleeping, archived or in error: the
   wait is over (nothing happens until someone acts).
2. While it is awake, follow its event stream from the cursor (`Last-Event-ID`), counting each event once
   into the digest and reporting progress. The client reconnects a dropped stream from the last event it
   delivered (after a reconnect, the chats are read once: the events sent meanwhile may be lost); if the
   stream cannot be (re)opened, poll instead for `stream_retry` seconds, then try again.
3. Polling re-reads the list record and, while the replica is awake, its chats (busy, and for busy chats
   the question they are paused on, from the history: `snapshot.read_chats`).

Right after the stream opens, the chats are read once unless the stream surely resumed from the cursor
(only the server's shared buffer holding the cursor's event promises that: neither the guide nor the
contract says the API replays after `Last-Event-ID`). Compared with the cursor (was the agent busy, which
PRs were reported), this tells a wait that the turn it was waiting for already ended, even one that ended
before anybody read the stream (a start cursor's first turn), and a cursor-less wait that nothing is
running. A replica last seen `preparing` is looked up afresh first (it may have booted and run its turn
before the stream opened); its chats are read only if it is active by then. A wait that follows its
replica's create skips that look (`_boot_ahead`: the boot is still ahead), relying on the heartbeat look of
a preparing replica's quiet stream instead. What the observations mean
(done or not) is `phase.wait_over`: by default a wait is over when the agent has nothing left to do,
never while messages are queued for it. After a turn's end, a wait does not decide until the chat summary
that follows says what comes next; if none arrives within `settle`, it reads the chats instead. The wait
returns on the event that satisfies it (there is no fixed settle window), taking along only the events that
arrived in the same moment.

Cancellation at any point closes the stream (the client's context manager) and loses nothing: the cursor
only moves past events already counted.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import anyio
import anyio.lowlevel

from replicas_mcp.client.errors import (
    ConflictError,
    NotFoundError,
    ReplicasError,
    StreamLimitError,
)
from replicas_mcp.client.events import Reconnected
from replicas_mcp.client.models import EngineEvent
from replicas_mcp.delegation.cursor import FROM_START
from replicas_mcp.delegation.failures import remember_failure
from replicas_mcp.delegation.feeds import OwnFeed, SharesStreams, open_events, shared_read
from replicas_mcp.delegation.memory import PROCESS_MEMORY, Memory
from replicas_mcp.delegation.phase import DEFAULT_UNTIL
from replicas_mcp.delegation.progress import Progress
from replicas_mcp.delegation.snapshot import read_chats
from replicas_mcp.delegation.tracking import STOPPED, Digest, State, Tracker, Until
from replicas_mcp.shutdown import ends_early_on_shutdown

if TYPE_CHECKING:
    from replicas_mcp.client import ReplicasClient
    from replicas_mcp.client.models import ReplicaListItem
    from replicas_mcp.delegation.cursor import Cursor
    from replicas_mcp.delegation.feeds import EventFeed

logger = logging.getLogger(__name__)

STREAMABLE = frozenset({"active", "preparing"})
MAX_TIMEOUT = 55.0
CONFIRM_TIMEOUT = 0.4  # seconds a returning wait spends at most confirming queued counts (budget's margin)
TRAILING = 0.005  # seconds a wait's own stream is read after it is satisfied (see ReplicaWait._take_ready)
JUST_CREATED = 1.0  # seconds after its create response within which a replica's boot is ahead (`_catch_up`)


@dataclass(frozen=True)
class WaitPolicy:
    """Timings of a wait, in real seconds."""

    poll_interval: float = 2.0  # list-endpoint checks while the stream is unavailable
    heartbeat: float = 10.0  # progress sent at least this often while nothing happens
    settle: float = 0.3  # after a turn's end, wait this long at most for the chat update confirming it
    stream_retry: float = 6.0  # after a stream failure, poll this long before reopening it
    max_reconnects: int = 3  # reconnects in a row the client attempts for one stream


DEFAULT_POLICY = WaitPolicy()


def budget(within: float) -> float:
    """The seconds a call bounded by `within` actually waits: at most MAX_TIMEOUT, and ending a little
    early (min(0.5 s, 5 %)) so that its outcome is built and returned inside the promised bound, even when
    many waits time out together on one event loop."""
    capped = max(0.0, min(within, MAX_TIMEOUT))
    return capped - min(0.5, 0.05 * capped)


@dataclass
class WaitOutcome:
    replica_id: str
    satisfied: bool  # the condition holds
    timed_out: bool
    state: State
    digest: Digest
    cursor: Cursor
    source: str  # "stream", "polling" or "snapshot": how the replica was observed last
    error: ReplicasError | None = field(default=None, repr=False)  # only from fan-out (see fanout.py)

    queued: int = 0  # messages waiting for the agent when the wait returned
    questions: list[str] = field(default_factory=list)  # what the agent is paused on now
    name: str | None = None  # as the list endpoint showed it (None: never seen)

    @property
    def stopped(self) -> bool:
        return self.state in STOPPED


class ReplicaWait:
    """One wait; `run()` may be cancelled at any await, `outcome()` is always consistent."""

    def __init__(
        self,
        client: ReplicasClient,
        replica_id: str,
        *,
        until: Until,
        cursor: Cursor | None,
        policy: WaitPolicy = DEFAULT_POLICY,
        progress: Progress | None = None,
        memory: Memory = PROCESS_MEMORY,
        launched: float | None = None,
    ) -> None:
        self._client = client
        self._launched = launched  # `time.monotonic()` when this wait's replica was created, if it just was
        self._memory = memory  # where a failure seen is kept for later reports (memory.py)
        self.replica_id = replica_id
        self.until = until
        self.policy = policy
        self.progress = progress or Progress()
        self.tracker = Tracker(replica_id, cursor)
        self.source = "snapshot"
        self.finished = False  # run() returned on its own (condition held, or the replica stopped)
        self.error: ReplicasError | None = None
        self._stream_blocked_until = 0.0
        self._chats_read = False  # the chats snapshot this wait starts from was taken

    def done(self) -> bool:
        return self.tracker.stopped or self.tracker.satisfied(self.until)

    async def remember_failure(self) -> None:
        """Keep the failure this wait saw, for reports once the stream is gone (on any instance)."""
        if self.tracker.failure is not None:
            await remember_failure(self._memory, self.replica_id, self.tracker.failure)

    def outcome(self) -> WaitOutcome:
        return WaitOutcome(
            replica_id=self.replica_id,
            satisfied=self.tracker.satisfied(self.until),
            timed_out=not self.finished and self.error is None,
            state=self.tracker.state,
            digest=self.tracker.digest,
            cursor=self.tracker.cursor(),
            source=self.source,
            error=self.error,
            queued=self.tracker.queued,
            questions=self.tracker.pending_questions,
            name=self.tracker.name,
        )

    async def probe(self, item: ReplicaListItem) -> None:
        """Observe the replica once (its list record, and its chats while awake), without streaming."""
        self.tracker.observe_item(item)
        if self.tracker.status in STREAMABLE:
            await self._look()
        self.finished = self.done()

    async def run(self) -> None:
        while True:
            self.tracker.observe_item(await self._client.replicas.status(self.replica_id))
            if self.tracker.stopped:
                break
            started = time.monotonic()
            if self.tracker.status in STREAMABLE and started >= self._stream_blocked_until:
                if await self._follow_stream():
                    break
                if self.tracker.stopped:
                    break
                # The stream ended or failed: look again after a pause (never a busy loop).
                await anyio.sleep(max(0.0, started + self.policy.poll_interval - time.monotonic()))
                continue
            if await self._poll():
                break
        self.finished = True

    async def confirm_queues(self) -> None:
        """Read the queues whose count the stream alone gave (see `Tracker.unconfirmed_queues`): a message
        removed from a queue sends no event, and a wait resumed from a cursor replays its acceptance. Only
        while the replica is awake: a queue read of a sleeping workspace is a 409 at best."""
        if self.tracker.status not in STREAMABLE:
            return
        for chat_id in self.tracker.unconfirmed_queues:
            try:
                queue = await self._client.queue.get(self.replica_id, chat_id)
            except ReplicasError as exc:  # asleep or gone meanwhile: the count stays as the stream said
                logger.info("queue of %s/%s unavailable: %s", self.replica_id, chat_id, exc)
                return
            self.tracker.observe_queue(chat_id, [message.id for message in queue.queue])

    async def _look(self, *, max_age: float = 0.0) -> None:
        """Observe the chats through REST (and the question a busy chat is paused on). Waits of one caller
        on one replica share a read that began after they asked (so it is as fresh as their own), or with
        `max_age` one at most that old (polling waits)."""
        snapshot = await shared_read(
            self._client,
            self.replica_id,
            "chats",
            max_age,
            lambda: read_chats(self._client, self.replica_id),
        )
        if snapshot is not None:  # None: asleep or in error, the list record says which
            self.tracker.observe_chats(snapshot.chats, snapshot.pending, snapshot.queued)

    async def _follow_stream(self) -> bool:
        """Read the stream until the wait is done (True) or the stream ends or fails (False).

        The chats are read first: when they already satisfy the wait (the agent is idle, or the turn the
        cursor was waiting for ended), no stream is opened at all. Otherwise the stream is opened from the
        cursor; unless it surely resumed there (`EventFeed.resumed`), it may start at the live end, so the
        chats are read once more after it opened (a turn that ended before would never be heard of)."""
        if (
            not self._chats_read
            and self.tracker.resume_id != FROM_START
            and self.tracker.status == "active"
            and not self._live()
        ):
            # (A start cursor is a replica just created, and a preparing one has run no turn: nothing to see
            # before the stream opens, after which the status, then the chats are read anyway; and a live
            # shared stream costs nothing to join.)
            self._chats_read = True
            await self._look()
            if self.done():
                self.source = "snapshot"
                return True
        try:
            async with open_events(
                self._client,
                self.replica_id,
                after=self.tracker.resume_id,
                max_reconnects=self.policy.max_reconnects,
            ) as events:
                self.source = "stream"
                # Not surely resumed: what ran before the stream opened is unknown (the API need not replay
                # after `Last-Event-ID`). A wait that joined a live shared stream has not looked yet either
                # (the cursor does not say what is queued).
                if not events.resumed or not self._chats_read:
                    await self._catch_up(events)
                if self.done():
                    return True
                while True:
                    event = await self._next(events)
                    # Counted before any await (never lost or doubled); progress only when the wait goes on:
                    # the result itself reports the event that ends it, without a notification in its way.
                    message = self.tracker.observe_event(event) if event is not None else None
                    if self.done():
                        await self._take_ready(events)
                        return True
                    if message is not None:
                        await self.progress.tick(message)
                    if event is None:
                        break
        except (NotFoundError, ConflictError) as exc:
            logger.info("event stream of %s closed: %s", self.replica_id, exc)  # the list says why
        except StreamLimitError as exc:  # the hub's or the client's: degrade to polling, say so
            await self.progress.tick(f"following by polling: {exc}")
            self._stream_blocked_until = time.monotonic() + self.policy.stream_retry
        except ReplicasError as exc:
            logger.info("event stream of %s unavailable, polling instead: %s", self.replica_id, exc)
            self._stream_blocked_until = time.monotonic() + self.policy.stream_retry
        return False

    async def _catch_up(self, events: EventFeed) -> None:
        """Look at the chats: the stream (re)opened, and may not have resumed where the wait's events end.

        What a shared buffer holds is counted (no waiting: turns and PRs heard, not guessed), before the
        look and what arrived during it; the look tells what happened before the upstream (re)opened.
        Events older than the look may undo what it said (a turn's end without its summary yet): the
        caller then reads on until the wait is done."""
        await self._count_ready(events)
        self._chats_read = True
        if self.tracker.status == "preparing" and not self._boot_ahead():
            await self._booted_meanwhile()
        if self.tracker.status == "active":  # (a preparing workspace has run no turn yet)
            await self._look()
        await self._count_ready(events)
        if self.done() and self.tracker.finished_unseen:
            await self._refresh_prs()

    async def _count_ready(self, events: EventFeed) -> None:
        """Count the events a shared feed holds now (none for a stream of the wait's own): reading them
        does not wait. A reconnect's marker among them needs no look of its own: the caller looks next."""
        while events.ready() and (event := await anext(events, None)) is not None:
            if isinstance(event, EngineEvent):
                self.tracker.observe_event(event)

    async def _event(self, events: EventFeed) -> EngineEvent | None:
        """The next event (None: the stream ended, or the wait is done). After a reconnect the chats are
        looked at once (`_catch_up`): the API need not replay what was sent while the stream was down, and
        a turn that ended then would otherwise be heard of only at the wait's timeout."""
        while True:
            event = await anext(events, None)
            if not isinstance(event, Reconnected):
                return event
            await self._catch_up(events)
            if self.done():
                return None  # the caller sees done() before anything else

    def _boot_ahead(self) -> bool:
        """The replica was created moments before its stream opened (`JUST_CREATED`; the first catch-up
        only, never after a reconnect): its boot is still ahead, and will be heard on the stream. The guide
        expects setup to take 10-60 s (under 10 s from a warm pool), so a look now would only say
        `preparing` again. Nothing relies on it: were a boot and its whole first turn ever faster than the
        stream's opening, the preparing replica's quiet stream makes the wait ask the list after a
        heartbeat (`_next`), so the turn is seen, late but seen."""
        launched, self._launched = self._launched, None
        return launched is not None and time.monotonic() - launched < JUST_CREATED

    async def _booted_meanwhile(self) -> None:
        """The replica was preparing before the stream opened: it may have booted, and even run its whole
        turn, before the stream began (no event will repeat that). The list record, read freshly now that the
        stream is open, says whether it did: a server's recent `preparing` or live stream cannot (a stream
        can be opened while the workspace prepares). Still preparing: whatever comes is on the stream."""
        self.tracker.observe_item(await self._client.replicas.status(self.replica_id, fresh=True))

    async def _refresh_prs(self) -> None:
        """A turn ended before the stream opened (never heard of): read the list record again, freshly, for
        the PRs it opened. The record this wait began with may be older than them (a server keeps one while
        a shared stream of the replica is live, counting on the stream to tell what changes)."""
        self.tracker.observe_item(await self._client.replicas.status(self.replica_id, fresh=True))

    def _live(self) -> bool:
        return isinstance(self._client, SharesStreams) and self._client.has_live_stream(self.replica_id)

    async def _next(self, events: EventFeed) -> EngineEvent | None:
        """The next event (None: the stream ended, or the wait is done). Right after a turn's end, the chat
        summary saying what comes next is awaited for `settle` at most; if it does not come, the chats are
        read instead, so a wait is neither done early nor stuck on a summary that never arrives. While the
        replica is preparing, a quiet stream makes the wait ask the list (see the loop)."""
        while self.tracker.unsettled:
            with anyio.move_on_after(self.policy.settle):
                return await self._event(events)
            await self._look()
            if self.done():
                return None  # the caller sees done() before anything else
        while self.tracker.status == "preparing":
            # A replica woken without a message runs no turn, so no turn event will say it is up: while the
            # stream is quiet for a heartbeat, the list is asked (a boot's own events keep it from asking).
            with anyio.move_on_after(self.policy.heartbeat):
                return await self._event(events)
            await self._booted_meanwhile()
            if self.tracker.status == "active":
                await self._look()
            if self.done():
                return None
        return await self._event(events)

    async def _take_ready(self, events: EventFeed) -> None:
        """Count the events sent in the same moment as the satisfying one (the engine's status update after
        a chat update), so that the next wait does not start with them. A shared feed says what it already
        holds (no waiting): it is drained, then the upstream reader gets one turn to append what else it has
        received, until a turn brings nothing. A stream of the wait's own is read for `TRAILING` seconds at
        most."""
        if isinstance(events, OwnFeed):
            await anyio.lowlevel.checkpoint()  # let its reader take in what has arrived
            with anyio.move_on_after(TRAILING):
                while (event := await anext(events, None)) is not None:
                    if isinstance(event, EngineEvent):  # the wait is done: a reconnect changes nothing
                        self.tracker.observe_event(event)
            return
        while True:
            while events.ready():
                event = await anext(events, None)
                if event is None:
                    return
                if isinstance(event, EngineEvent):
                    self.tracker.observe_event(event)
            await anyio.lowlevel.checkpoint()  # the upstream reader's turn (one, in the common case)
            if not events.ready():
                return

    async def _poll(self) -> bool:
        """One polling round: chats (while awake), then a pause. True when the wait is done."""
        self.source = "polling"
        if self.tracker.status in STREAMABLE:
            await self._look(max_age=self.policy.poll_interval / 2)  # a poll is that stale anyway
        if self.done():
            return True
        await anyio.sleep(self.policy.poll_interval)
        return False


async def wait_for_replica(
    client: ReplicasClient,
    replica_id: str,
    *,
    until: Until = DEFAULT_UNTIL,
    within: float,
    cursor: Cursor | None = None,
    policy: WaitPolicy = DEFAULT_POLICY,
    progress: Progress | None = None,
    memory: Memory = PROCESS_MEMORY,
    launched: float | None = None,
) -> WaitOutcome:
    """Wait until `until` holds, the replica stops, or `within` seconds pass (see `budget`; `launched`:
    `time.monotonic()` when the replica was created, for a wait that follows its create)."""
    waiter = ReplicaWait(
        client,
        replica_id,
        until=until,
        cursor=cursor,
        policy=policy,
        progress=progress,
        memory=memory,
        launched=launched,
    )
    progress = waiter.progress
    # On shutdown the deadline comes forward (replicas_mcp/shutdown.py): the wait returns its cursor.
    with anyio.move_on_after(budget(within)) as deadline, ends_early_on_shutdown(deadline):
        async with progress.heartbeat(policy.heartbeat):
            await waiter.run()
    with anyio.move_on_after(CONFIRM_TIMEOUT):
        await waiter.confirm_queues()
    await waiter.remember_failure()
    return waiter.outcome()
