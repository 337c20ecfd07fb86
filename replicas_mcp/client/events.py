"""A replica's engine events as an async iterator that survives dropped connections.

    async with client.events.stream(replica_id) as events:
        async for event in events:
            ...

- Heartbeats and SSE comments are skipped; every other event is parsed into an `EngineEvent`.
- When the connection drops (or the server ends the stream), it reconnects with `Last-Event-ID` after
  the server's `retry:` delay (or a short backoff), at most `max_reconnects` times in a row; then
  `StreamError`. An event already yielded is never yielded again, even if the server replays it.
- The API need not replay after `Last-Event-ID` (neither the guide nor the contract says so): events sent
  while the stream was down may never arrive. `Events.marked_stream` yields a `Reconnected` marker right
  after each reconnect, so that a reader can look at the replica's state once (the stream cannot say
  what it missed); `Events.stream` yields events only.
- 404 (no such replica) and 409 (sleeping / error state) are raised, on opening or on reconnecting:
  reconnecting cannot fix them. So is `StreamLimitError` (the client's `max_streams` are all open).
- Leaving the `async with` block, by `break`, an exception or cancellation, closes the connection.
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from types import TracebackType

import anyio
import httpx2
import stamina

from replicas_mcp.client._http import HttpCore, api_path
from replicas_mcp.client._resource import Resource
from replicas_mcp.client._status_lookup import classify_conflict
from replicas_mcp.client.errors import (
    AuthenticationError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    ReplicasError,
    RequestValidationError,
    StreamError,
    StreamLimitError,
    TransportError,
)
from replicas_mcp.client.models.events import EngineEvent

__all__ = ["EngineEventStream", "Events", "MarkedEventStream", "Reconnected"]

logger = logging.getLogger("replicas_mcp.client")

_HEARTBEAT_NAMES = frozenset({"heartbeat", "ping", "keepalive", "keep-alive"})
# Errors that a reconnect cannot fix: raise them at once (a full stream budget included: the caller
# degrades rather than waiting here for a slot).
_FATAL = (NotFoundError, ConflictError, AuthenticationError, PermissionDeniedError, StreamLimitError)
# Without a `retry:` from the server: first reconnect delay, doubled per failure up to the cap.
_DEFAULT_RECONNECT_DELAY = 0.5
_MAX_RECONNECT_DELAY = 10.0
# How many recent event ids are remembered to drop replays after a resume.
_SEEN_IDS = 2048
# A connection that stayed up this long was healthy: its drop starts a fresh count of attempts, so an idle
# stream (heartbeats only) that drops now and then is not given up on.
_HEALTHY_CONNECTION_SECONDS = 5.0


def _is_heartbeat(sse: httpx2.ServerSentEvent, data: object) -> bool:
    if sse.event.lower() in _HEARTBEAT_NAMES:
        return True
    return isinstance(data, dict) and str(data.get("type", "")).lower() in _HEARTBEAT_NAMES


@dataclass(frozen=True)
class Reconnected:
    """A marked stream reconnected just now (`Events.marked_stream`): events sent meanwhile may be lost."""

    reconnects: int  # reconnects so far on this stream


class _StreamCore:
    """The connection, its reconnects and the parsing of one event stream (see the module docstring)."""

    def __init__(
        self,
        http: HttpCore,
        replica_id: str,
        *,
        last_event_id: str | None,
        max_reconnects: int,
        read_timeout: float | None,
    ) -> None:
        self._http = http
        self._replica_id = replica_id
        self._path = api_path("/v1/replica/{}/events", replica_id)
        self.last_event_id = last_event_id
        self._max_reconnects = max_reconnects
        self._read_timeout = read_timeout
        self._retry_delay: float | None = None  # from the server's `retry:` field, seconds
        self._seen: collections.deque[str] = collections.deque(maxlen=_SEEN_IDS)
        self._seen_set: set[str] = set()
        self._connection: contextlib.AbstractAsyncContextManager[AsyncIterator[httpx2.ServerSentEvent]] | None
        self._connection = None
        self._generator: AsyncGenerator[EngineEvent | Reconnected, None] | None = None
        self._marked = False  # yield a `Reconnected` after each reconnect
        self.reconnects = 0
        self.healthy_connection_seconds = _HEALTHY_CONNECTION_SECONDS

    @property
    def connected(self) -> bool:
        """A connection to the server is open now: False from the moment the server ended the stream (or
        it dropped) until a reconnect succeeds. A server ends a replica's stream when its workspace stops."""
        return self._connection is not None

    async def _open(self) -> AsyncGenerator[EngineEvent | Reconnected, None]:
        # The first connection is opened here, so a 404/409 surfaces at `async with`.
        first = await self._connect()
        self._generator = self._iterate(first)
        return self._generator

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        generator = self._generator
        self._generator = None
        if generator is not None:
            with anyio.CancelScope(shield=True):
                await generator.aclose()
        await self._close_connection()

    async def _connect(self) -> AsyncIterator[httpx2.ServerSentEvent]:
        headers = {"Last-Event-ID": self.last_event_id} if self.last_event_id else None
        connection = self._http.stream_sse(
            "GET", self._path, headers=headers, read_timeout=self._read_timeout
        )
        try:
            source = await connection.__aenter__()
        except ConflictError as exc:
            # Sleeping or in error: which one is the replica layer's call (it asks the list if it must).
            raise await classify_conflict(self._http, exc, self._replica_id) from None
        self._connection = connection
        return source

    async def _close_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with anyio.CancelScope(shield=True):
                await connection.__aexit__(None, None, None)

    def _remember(self, event_id: str) -> bool:
        """True the first time an id is seen; False for a replay."""
        if event_id in self._seen_set:
            return False
        if len(self._seen) == self._seen.maxlen:
            self._seen_set.discard(self._seen[0])
        self._seen.append(event_id)
        self._seen_set.add(event_id)
        return True

    def _parse(self, sse: httpx2.ServerSentEvent) -> EngineEvent | None:
        if sse.retry is not None:
            self._retry_delay = max(0.0, sse.retry / 1000)
        if not sse.data.strip():
            return None
        try:
            data: object = json.loads(sse.data)
        except ValueError:
            logger.warning("skipping an event whose data is not JSON (%d bytes)", len(sse.data))
            return None
        if _is_heartbeat(sse, data):
            return None
        if not isinstance(data, dict):
            logger.warning("skipping an event whose data is not an object")
            return None
        if not data.get("type") and sse.event and sse.event != "message":
            data["type"] = sse.event
        if not data.get("id") and sse.id:
            data["id"] = sse.id
        return EngineEvent.model_validate(data)

    def _delay(self, failures: int) -> float:
        if stamina.is_testing():
            return 0.0
        if self._retry_delay is not None:
            return self._retry_delay
        return float(min(_MAX_RECONNECT_DELAY, _DEFAULT_RECONNECT_DELAY * 2 ** (failures - 1)))

    async def _iterate(
        self, source: AsyncIterator[httpx2.ServerSentEvent]
    ) -> AsyncGenerator[EngineEvent | Reconnected, None]:
        failures = 0
        current: AsyncIterator[httpx2.ServerSentEvent] | None = source
        while True:
            if current is not None:
                opened_at = time.monotonic()
                try:
                    async for sse in current:
                        event = self._parse(sse)
                        if sse.id:
                            self.last_event_id = sse.id
                        if event is None:
                            continue
                        if event.id:
                            self.last_event_id = sse.id or event.id
                            if not self._remember(event.id):
                                continue
                        failures = 0
                        yield event
                    reason = "the server ended the stream"
                except TransportError as exc:
                    reason = str(exc)
                await self._close_connection()
                current = None
                if time.monotonic() - opened_at >= self.healthy_connection_seconds:
                    failures = 0
            else:
                reason = "reconnect failed"
            failures += 1
            if failures > self._max_reconnects:
                raise StreamError(
                    f"event stream {self._path} dropped and could not be resumed after"
                    f" {self._max_reconnects} attempts ({reason})"
                )
            delay = self._delay(failures)
            logger.info(
                "event stream %s interrupted (%s); reconnecting in %.2fs from event %s (attempt %d/%d)",
                self._path,
                reason,
                delay,
                self.last_event_id,
                failures,
                self._max_reconnects,
            )
            await anyio.sleep(delay)
            self.reconnects += 1
            try:
                current = await self._connect()
            except _FATAL:
                raise
            except ReplicasError as exc:
                logger.info("reconnecting %s failed: %s", self._path, exc)
                current = None
            if current is not None and self._marked:
                yield Reconnected(self.reconnects)


class EngineEventStream(_StreamCore, contextlib.AbstractAsyncContextManager[AsyncIterator[EngineEvent]]):
    """The async context manager returned by `Events.stream`; it yields the event iterator."""

    async def __aenter__(self) -> AsyncIterator[EngineEvent]:
        return _EventsOnly(await self._open())


class MarkedEventStream(
    _StreamCore, contextlib.AbstractAsyncContextManager[AsyncIterator[EngineEvent | Reconnected]]
):
    """The async context manager returned by `Events.marked_stream`: events, and a `Reconnected` after each
    reconnect."""

    async def __aenter__(self) -> AsyncIterator[EngineEvent | Reconnected]:
        self._marked = True
        return await self._open()


class _EventsOnly:
    """The events of an unmarked stream (whose generator never yields a marker); the stream closes it."""

    def __init__(self, items: AsyncIterator[EngineEvent | Reconnected]) -> None:
        self._items = items

    def __aiter__(self) -> _EventsOnly:
        return self

    async def __anext__(self) -> EngineEvent:
        while True:
            item = await anext(self._items)
            if isinstance(item, EngineEvent):
                return item


class Events(Resource):
    """`client.events`: a replica's live engine events."""

    def stream(
        self,
        replica_id: str,
        *,
        last_event_id: str | None = None,
        max_reconnects: int = 5,
        read_timeout: float | None = None,
    ) -> EngineEventStream:
        """An async context manager yielding the replica's events (see the module docstring)."""
        _check(max_reconnects)
        return EngineEventStream(
            self._http,
            replica_id,
            last_event_id=last_event_id,
            max_reconnects=max_reconnects,
            read_timeout=read_timeout,
        )

    def marked_stream(
        self,
        replica_id: str,
        *,
        last_event_id: str | None = None,
        max_reconnects: int = 5,
        read_timeout: float | None = None,
    ) -> MarkedEventStream:
        """Like `stream`, with a `Reconnected` marker yielded after each reconnect."""
        _check(max_reconnects)
        return MarkedEventStream(
            self._http,
            replica_id,
            last_event_id=last_event_id,
            max_reconnects=max_reconnects,
            read_timeout=read_timeout,
        )


def _check(max_reconnects: int) -> None:
    if max_reconnects < 0:
        raise RequestValidationError("max_reconnects must be >= 0", field="max_reconnects")
