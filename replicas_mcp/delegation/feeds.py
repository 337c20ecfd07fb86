"""What a wait reads a replica's events through (plumbing shared with the server's stream hub).

A plain client opens a stream of its own per wait; the server's client view (`SharesStreams`) hands out
readers of one shared upstream per caller and replica (`server/state/streams.py`). Both give an `EventFeed`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from typing import TYPE_CHECKING, Protocol, TypeVar, runtime_checkable

from replicas_mcp.client.errors import StreamLimitError
from replicas_mcp.client.events import Reconnected

if TYPE_CHECKING:
    from replicas_mcp.client import ReplicasClient
    from replicas_mcp.client.models import EngineEvent

__all__ = [
    "EventFeed",
    "Reconnected",
    "SharesReads",
    "SharesStreams",
    "StreamLimitReached",
    "open_events",
    "shared_read",
]

T = TypeVar("T")

MAX_RECONNECTS = 3  # reconnects in a row a wait's own stream attempts


class StreamLimitReached(StreamLimitError):
    """The server's stream hub holds as many live upstream streams as it may (the client's own limit raises
    the `StreamLimitError` this refines): follow the replica by polling instead."""


class EventFeed(Protocol):
    """A replica's events after a reader's cursor, in order, each once.

    `resumed` is True only when every event after the reader's cursor is sure to be delivered: the shared
    buffer holds the cursor's event. A stream opened with `Last-Event-ID` is not: neither the guide nor the
    contract says the API resumes after it (it may start at the live end), so the reader must look at the
    chats to learn what happened meanwhile. Without a cursor it is False too. For the same reason, when the
    upstream reconnects, a `Reconnected` marker comes in the events' place: what was sent while it was down
    may be lost, so the reader looks again. Iteration ends by raising
    what ended the upstream (`NotFoundError`, `ConflictError`, `StreamError`, ...) after every event before
    that was delivered.
    """

    resumed: bool

    def ready(self) -> int:
        """How many events can be read now without waiting (0 when that is not known)."""
        ...

    def __aiter__(self) -> AsyncIterator[EngineEvent | Reconnected]: ...

    async def __anext__(self) -> EngineEvent | Reconnected: ...


@runtime_checkable
class SharesStreams(Protocol):
    """A client view that reads a replica's events from a shared upstream (the server's `KnowingClient`)."""

    def shared_stream(
        self, replica_id: str, *, after: str | None
    ) -> contextlib.AbstractAsyncContextManager[EventFeed]: ...

    def has_live_stream(self, replica_id: str) -> bool:
        """A shared upstream of the replica is open now (joining it costs no request)."""
        ...


@runtime_checkable
class SharesReads(Protocol):
    """A client view that lets reads of one caller be shared (the server's `KnowingClient`)."""

    async def recently(
        self, replica_id: str, key: Hashable, max_age: float, build: Callable[[], Awaitable[T]]
    ) -> T:
        """What `build()` returned for the replica and `key`: from a build that began after this call
        (overlapping calls share it) or at most `max_age` seconds before it; else a new `build()`."""
        ...


async def shared_read(
    client: ReplicasClient, replica_id: str, key: Hashable, max_age: float, build: Callable[[], Awaitable[T]]
) -> T:
    """`build()`, or, when the client shares reads, the result of a build that began after this call or at
    most `max_age` seconds before it."""
    if isinstance(client, SharesReads):
        return await client.recently(replica_id, key, max_age, build)
    return await build()


@contextlib.asynccontextmanager
async def open_events(
    client: ReplicasClient, replica_id: str, *, after: str | None, max_reconnects: int = MAX_RECONNECTS
) -> AsyncIterator[EventFeed]:
    """The replica's events after event id `after`: from the shared upstream when the client offers one,
    else from a stream of its own (reconnecting at most `max_reconnects` times in a row)."""
    if isinstance(client, SharesStreams):
        async with client.shared_stream(replica_id, after=after) as feed:
            yield feed
        return
    stream = client.events.marked_stream(replica_id, last_event_id=after, max_reconnects=max_reconnects)
    async with stream as events:
        yield OwnFeed(events, resumed=False)  # `Last-Event-ID` is sent, but replay is not promised


class OwnFeed:
    """An `EventFeed` over a stream of the reader's own."""

    def __init__(self, events: AsyncIterator[EngineEvent | Reconnected], *, resumed: bool) -> None:
        self._events = events
        self.resumed = resumed

    def ready(self) -> int:
        return 0

    def __aiter__(self) -> OwnFeed:
        return self

    async def __anext__(self) -> EngineEvent | Reconnected:
        return await anext(self._events)
