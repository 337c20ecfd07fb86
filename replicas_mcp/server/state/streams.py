"""One upstream event stream per (caller, replica), fanned out in process to every reader.

The watcher and every wait on a replica read the same upstream stream: `StreamHub.subscribe` opens it for
the first reader (from that reader's cursor), appends each event to a shared, bounded buffer, and every
reader walks the buffer from its own position. A reader whose cursor is in the buffer resumes right after
it without any request (and is `resumed`); a reader without a cursor starts at the live end. An upstream
opened from a cursor gets what the API sends after that `Last-Event-ID`: the events after it if the API
replays (the sandbox's extension), else the live ones, so its first readers are not `resumed`. The
upstream's own reconnects are not replays either: each puts a `Reconnected` marker in the buffer, which
every reader gets in its place (a wait then looks at the chats). The upstream stays open for `linger`
seconds after its last reader leaves, so the next `wait_for_replica` call with the cursor the previous one
returned resumes on the buffer instead of opening a new stream.

Streams are bounded (`max_streams`): past the limit `subscribe` raises `StreamLimitReached` (a
`ReplicasError`), and readers degrade to polling (waits) or to the bulk status poll (the watcher) instead
of queueing behind connections that never free. With `per_caller` (byo-key: `--max-streams-per-caller`),
one caller past its share degrades the same way, so it cannot take the streams of every other caller.

`StreamHub` is the interface; `SharedStreams` the in-process implementation. A fleet-wide implementation
(one upstream per caller and replica across instances, events relayed through a shared store) must keep
the same contracts, stated on each method.
"""

from __future__ import annotations

import collections
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import anyio
from anyio.abc import TaskGroup

from replicas_mcp.client.errors import StreamError
from replicas_mcp.client.events import Reconnected
from replicas_mcp.client.models import EngineEvent
from replicas_mcp.delegation.feeds import EventFeed, StreamLimitReached

if TYPE_CHECKING:
    from replicas_mcp.client import ReplicasClient

__all__ = ["EventFeed", "SharedStreams", "StreamHub", "StreamLimitReached"]

logger = logging.getLogger(__name__)

DEFAULT_BUFFER = 2048  # events kept per upstream for readers that resume from a cursor
DEFAULT_LINGER = 30.0  # seconds an upstream stays open after its last reader leaves
DEFAULT_MAX_STREAMS = 256  # upstream streams per process (the client's stream pool holds at least this)
# Events that say the workspace is active: a turn's (turns run only in an active workspace, as the wait's
# tracker also reads them). A stream may be opened, and stay silent, while the workspace still prepares, so
# an open stream alone does not say it is active. Nor does `engine.ready`: "Engine initialization complete"
# (contract) need not mean the preparation is over (start hooks may still run: the sandbox sends it before
# running them, and its engine status reports `hooksRunning` while preparing).
BOOTED_EVENTS = frozenset({"chat.turn.started", "chat.turn.delta", "chat.turn.completed"})
# Events that cannot change what a hand-off report says (`StreamHub.version`): the engine's own snapshot
# (uptime, SSE clients; its chat, repository and hook counts change only with chat.*, repo.* and hooks.*
# events, which do count) and preview ports (not in a report). A turn's trailing snapshot arriving while a
# report is built must not make the next call build it again (five requests).
REPORT_NEUTRAL_EVENTS = frozenset({"engine.status.changed", "preview.changed"})
# What a report reads from a chat summary (`chat.updated`): a summary that changes neither (a new title,
# a new preview of the last message) cannot change it either.
REPORT_CHAT_FIELDS = ("processing", "awaitingInput")
CHAT_FACTS = 256  # chats per upstream whose last summary is kept for that comparison


class StreamHub(Protocol):
    """Shared upstream event streams, per caller and replica.

    Contracts:
    - At most one upstream stream per (caller, replica) is open on behalf of readers that can share it;
      a reader whose cursor is older than the shared buffer gets its own upstream from that cursor (no
      repeat; no gap only if the API replays, so such a reader is not `resumed`).
    - `subscribe` raises at `async with` what opening the upstream raised (404, 409, ...), like
      `client.events.stream`; and `StreamLimitReached` when no stream can be opened.
    - Events are delivered to each reader in upstream order, each at most once per reader; a reader that
      falls more than the buffer behind gets `StreamError` (it resumes from its cursor with a new call).
    - Leaving the `async with` releases the reader at once; the upstream closes `linger` seconds after its
      last reader left (immediately at `aclose`).
    """

    def subscribe(
        self, caller: str, replica_id: str, client: ReplicasClient, *, after: str | None
    ) -> contextlib.AbstractAsyncContextManager[EventFeed]:
        """Read `replica_id`'s events as `caller` (through `client`), after event id `after`."""
        ...

    @property
    def live_streams(self) -> int:
        """Upstream streams open now (shared ones and private catch-up ones)."""
        ...

    def has_live(self, caller: str, replica_id: str) -> bool:
        """A shared upstream of this replica is open for this caller now (so the replica is awake: the
        upstream ends the stream when the workspace stops)."""
        ...

    def booted(self, caller: str, replica_id: str) -> bool:
        """The caller's live upstream of this replica (`has_live`) has delivered an event that only an active
        workspace sends (`BOOTED_EVENTS`): the replica is active, even if it was last seen `preparing`."""
        ...

    def version(self, caller: str, replica_id: str) -> object | None:
        """A token that stays equal while no event that can change a hand-off report arrives on the caller's
        live upstream of the replica, and changes with every one that can (every event but
        `REPORT_NEUTRAL_EVENTS` and chat summaries equal in `REPORT_CHAT_FIELDS` to the upstream's last one
        of that chat; a reconnect; a new upstream); None when no upstream is live (nothing can be said)."""
        ...

    def dropped(self, caller: str, replica_id: str) -> bool:
        """The caller's upstream of this replica was connected and is not now (the workspace may have
        stopped: the upstream ends its stream then, and the client is trying to reconnect)."""
        ...

    @property
    def on_end(self) -> list[Callable[[str, str], Awaitable[None]]]:
        """Called with (caller, replica id) when an upstream ends by itself (the workspace stopped, or the
        stream failed), not when it is closed for want of readers."""
        ...


@dataclass(eq=False)
class _Upstream:
    key: tuple[str, str]
    start_id: str | None  # the Last-Event-ID it was opened with
    buffer: collections.deque[EngineEvent | Reconnected]
    first_seq: int = 0  # sequence number of buffer[0]
    readers: int = 0
    ended: BaseException | None = None
    closed: bool = False
    opened: anyio.Event = field(default_factory=anyio.Event)
    changed: anyio.Event = field(default_factory=anyio.Event)
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    idle_since: float | None = None
    lingers: set[anyio.CancelScope] = field(default_factory=set)
    connected: Callable[[], bool] = lambda: False  # the upstream's connection is open now
    booted: bool = False  # it delivered one of `BOOTED_EVENTS`
    changes: int = 0  # events that can change a report (`StreamHub.version`)
    # The last `REPORT_CHAT_FIELDS` of each chat's summary (the `CHAT_FACTS` most recent chats; it ends with
    # the upstream). A chat dropped from it only makes its next summary count as a change.
    chat_facts: dict[str, tuple[object, ...]] = field(default_factory=dict)

    @property
    def end_seq(self) -> int:
        return self.first_seq + len(self.buffer)

    def position_after(self, event_id: str | None) -> int | None:
        """Where a reader with this cursor starts, or None when the buffer cannot serve it."""
        if event_id is None:
            return self.end_seq
        if event_id == self.start_id:
            return self.first_seq if self.first_seq == 0 else None
        for offset in range(len(self.buffer) - 1, -1, -1):
            item = self.buffer[offset]
            if isinstance(item, EngineEvent) and item.id == event_id:
                return self.first_seq + offset + 1
        return None

    def append(self, event: EngineEvent | Reconnected) -> None:
        if not self.booted and isinstance(event, EngineEvent) and event.type in BOOTED_EVENTS:
            self.booted = True
        if self._changes_report(event):
            self.changes += 1
        if len(self.buffer) == self.buffer.maxlen:
            self.first_seq += 1
        self.buffer.append(event)
        self.wake()

    def _changes_report(self, event: EngineEvent | Reconnected) -> bool:
        if isinstance(event, Reconnected):  # what was sent meanwhile is unknown
            return True
        if event.type in REPORT_NEUTRAL_EVENTS:
            return False
        if event.type == "chat.deleted":
            self.chat_facts.pop(str(event.payload.get("chatId")), None)
            return True
        chat = event.payload.get("chat")
        if event.type != "chat.updated" or not isinstance(chat, dict) or not isinstance(chat.get("id"), str):
            return True
        facts = tuple(chat.get(name) for name in REPORT_CHAT_FIELDS)
        before = self.chat_facts.pop(chat["id"], None)
        self.chat_facts[chat["id"]] = facts  # (most recent last)
        if len(self.chat_facts) > CHAT_FACTS:
            del self.chat_facts[next(iter(self.chat_facts))]
        return before != facts  # (a chat's first summary on this upstream counts: nothing to compare with)

    def wake(self) -> None:
        self.changed.set()
        self.changed = anyio.Event()


class _Feed:
    def __init__(self, upstream: _Upstream, position: int, *, resumed: bool) -> None:
        self._up = upstream
        self._pos = position
        self.resumed = resumed

    def ready(self) -> int:
        return max(0, self._up.end_seq - self._pos)

    def __aiter__(self) -> _Feed:
        return self

    async def __anext__(self) -> EngineEvent | Reconnected:
        up = self._up
        while True:
            if self._pos < up.first_seq:
                raise StreamError("fell behind the shared event buffer; resume from the cursor")
            if self._pos < up.end_seq:
                event = up.buffer[self._pos - up.first_seq]
                self._pos += 1
                return event
            if up.ended is not None:
                raise up.ended
            if up.closed:
                raise StopAsyncIteration
            await up.changed.wait()


class SharedStreams:
    """`StreamHub` in this process: upstream tasks run in the lifespan's task group."""

    def __init__(
        self,
        task_group: TaskGroup,
        *,
        max_streams: int = DEFAULT_MAX_STREAMS,
        buffer: int = DEFAULT_BUFFER,
        linger: float | None = None,
        per_caller: int | None = None,
    ) -> None:
        self._tg = task_group
        self.max_streams = max_streams
        self.per_caller = per_caller
        self._private_of: dict[str, int] = {}  # private upstreams per caller (none kept at 0)
        self._buffer = buffer
        self._linger = DEFAULT_LINGER if linger is None else linger
        self._shared: dict[tuple[str, str], _Upstream] = {}
        self._private = 0
        self.opened = 0  # upstream streams opened so far (diagnostics, tests)
        self._on_end: list[Callable[[str, str], Awaitable[None]]] = []

    @property
    def on_end(self) -> list[Callable[[str, str], Awaitable[None]]]:
        return self._on_end

    @property
    def live_streams(self) -> int:
        return len(self._shared) + self._private

    def has_live(self, caller: str, replica_id: str) -> bool:
        up = self._shared.get((caller, replica_id))
        # Connected, not merely open: after the workspace stops, its stream ends and the client waits to
        # reconnect (then fails with a 409); meanwhile the replica is asleep, not awake.
        return up is not None and up.opened.is_set() and up.ended is None and not up.closed and up.connected()

    def booted(self, caller: str, replica_id: str) -> bool:
        return self.has_live(caller, replica_id) and self._shared[(caller, replica_id)].booted

    def dropped(self, caller: str, replica_id: str) -> bool:
        up = self._shared.get((caller, replica_id))
        return up is not None and up.opened.is_set() and up.ended is None and not up.connected()

    def version(self, caller: str, replica_id: str) -> object | None:
        if not self.has_live(caller, replica_id):
            return None
        up = self._shared[(caller, replica_id)]
        return (id(up), up.changes)

    @contextlib.asynccontextmanager
    async def subscribe(
        self, caller: str, replica_id: str, client: ReplicasClient, *, after: str | None
    ) -> AsyncIterator[EventFeed]:
        key = (caller, replica_id)
        up = self._shared.get(key)
        if up is not None and (up.ended is not None or up.closed):
            up = None
        if up is None:
            self._reserve(caller)
            up = _Upstream(key, after, collections.deque(maxlen=self._buffer))
            self._shared[key] = up
            self._tg.start_soon(self._pump, up, client)
        try:
            await up.opened.wait()
        except BaseException:  # cancelled while it opens: nobody may read it, so it lingers like an idle one
            if up.readers == 0 and up.ended is None and up.idle_since is None:
                up.idle_since = anyio.current_time()
                self._tg.start_soon(self._linger_then_close, up, up.idle_since)
            raise
        position = up.position_after(after)
        if up.ended is not None and up.end_seq == 0:
            raise up.ended  # opening failed: surface it like client.events.stream would
        if position is None:  # the cursor is older than the buffer: a private upstream from it
            async with self._private_feed(client, caller, replica_id, after) as feed:
                yield feed
            return
        # Resumed only from an event the buffer holds: the upstream's own `Last-Event-ID` (its start) may not
        # have been replayed by the API (neither document promises it), so a reader from there must look.
        resumed = after is not None and after != up.start_id
        up.readers += 1
        up.idle_since = None
        try:
            yield _Feed(up, position, resumed=resumed)
        finally:
            up.readers -= 1
            if up.readers == 0:
                up.idle_since = anyio.current_time()
                if up.ended is None:
                    self._tg.start_soon(self._linger_then_close, up, up.idle_since)

    def _reserve(self, caller: str) -> None:
        if self.live_streams >= self.max_streams:
            raise StreamLimitReached(
                f"the live stream limit ({self.max_streams}) is reached; following by polling instead",
                limit=self.max_streams,
            )
        if self.per_caller is not None and self._held_by(caller) >= self.per_caller:
            raise StreamLimitReached(
                f"this caller's share of live streams ({self.per_caller}) is taken; following by polling "
                "instead",
                limit=self.per_caller,
            )
        self.opened += 1

    def _held_by(self, caller: str) -> int:
        return sum(1 for owner, _ in self._shared if owner == caller) + self._private_of.get(caller, 0)

    @contextlib.asynccontextmanager
    async def _private_feed(
        self, client: ReplicasClient, caller: str, replica_id: str, after: str | None
    ) -> AsyncIterator[EventFeed]:
        self._reserve(caller)
        self._private += 1
        self._private_of[caller] = self._private_of.get(caller, 0) + 1
        try:
            async with client.events.marked_stream(replica_id, last_event_id=after) as events:
                yield _PrivateFeed(events)
        finally:
            self._private -= 1
            left = self._private_of.pop(caller, 1) - 1
            if left:
                self._private_of[caller] = left

    async def _pump(self, up: _Upstream, client: ReplicasClient) -> None:
        with up.scope:
            try:
                ended: BaseException
                try:
                    stream = client.events.marked_stream(up.key[1], last_event_id=up.start_id)
                    async with stream as events:
                        up.connected = lambda: stream.connected
                        up.opened.set()
                        async for event in events:
                            up.append(event)
                    ended = StreamError("the event stream ended")
                except Exception as exc:  # delivered to every reader, which decides what it means
                    ended = exc
                # It ended by itself (a close cancels the scope before this): those who rely on it are told
                # before any reader learns of the end, so a reader that looks again sees what they did.
                for callback in self._on_end:
                    try:
                        await callback(*up.key)
                    except Exception:  # a listener's failure (say, Redis down) must not stop the hub
                        logger.warning("a stream-end listener failed", exc_info=True)
                up.ended = ended
            finally:
                up.opened.set()
                if self._shared.get(up.key) is up:
                    del self._shared[up.key]
                up.wake()

    async def _linger_then_close(self, up: _Upstream, idle_since: float) -> None:
        if up.closed:
            return
        with anyio.CancelScope() as scope:
            up.lingers.add(scope)  # closing the upstream ends its lingers too
            try:
                await anyio.sleep(self._linger)
            finally:
                up.lingers.discard(scope)
        # Close unless a reader came (or came and left again: its own linger decides) meanwhile.
        if not scope.cancel_called and up.readers == 0 and up.idle_since == idle_since:
            self.close(up)

    def close(self, up: _Upstream) -> None:
        up.closed = True
        up.scope.cancel()
        for scope in list(up.lingers):
            scope.cancel()
        if self._shared.get(up.key) is up:
            del self._shared[up.key]
        up.wake()

    async def aclose(self) -> None:
        for up in list(self._shared.values()):
            self.close(up)


class _PrivateFeed:
    """A reader's own upstream (its cursor was older than the shared buffer)."""

    def __init__(self, events: AsyncIterator[EngineEvent | Reconnected]) -> None:
        self._events = events
        self.resumed = False  # opened with the reader's `Last-Event-ID`, whose replay is not promised

    def ready(self) -> int:
        return 0

    def __aiter__(self) -> _PrivateFeed:
        return self

    async def __anext__(self) -> EngineEvent | Reconnected:
        return await anext(self._events)
