"""The engine event stream over a mock transport: parsing, heartbeats, resume, stop, cancellation."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator

import anyio
import httpx2
import pytest
import stamina

from replicas_mcp.client import ReplicasClient
from replicas_mcp.client.errors import NotFoundError, StreamError, WorkspaceSleepingError
from replicas_mcp.client.events import EngineEventStream, Reconnected
from replicas_mcp.client.models import EngineEvent

from .client_helpers import MockClient


def frame(event_id: str, event_type: str, **payload: object) -> bytes:
    data = json.dumps({"id": event_id, "ts": "2026-05-26T07:31:12Z", "type": event_type, "payload": payload})
    return f"id: {event_id}\nevent: message\ndata: {data}\n\n".encode()


def sse_response(chunks: list[bytes], *, drop: bool = False, hang: bool = False) -> httpx2.Response:
    async def body() -> AsyncIterator[bytes]:
        for chunk in chunks:
            yield chunk
        if drop:
            raise httpx2.ReadError("connection reset by peer")
        if hang:
            await anyio.sleep_forever()

    return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=body())


async def collect(
    client: ReplicasClient, replica_id: str = "r1", *, into: list[EngineEvent] | None = None, **kwargs: object
) -> list[EngineEvent]:
    """Read the stream to its end into `into` (kept when the stream raises)."""
    events: list[EngineEvent] = [] if into is None else into
    with anyio.fail_after(5):
        async with client.events.stream(replica_id, **kwargs) as stream:  # type: ignore[arg-type]
            async for event in stream:
                events.append(event)
    return events


async def drain(stream: EngineEventStream) -> None:
    with anyio.fail_after(5):
        async with stream as events:
            async for _event in events:
                pass


async def test_yields_typed_events_and_skips_heartbeats(mock_client: MockClient) -> None:
    connections = 0

    def handler(request: httpx2.Request) -> httpx2.Response:
        nonlocal connections
        connections += 1
        if connections > 1:
            return httpx2.Response(404, json={"error": "Replica not found"})
        assert request.headers["accept"] == "text/event-stream"
        return sse_response(
            [
                b"retry: 100\n\n",
                b": heartbeat\n\n",
                frame("e1", "chat.created", chat={"id": "c1"}),
                b'event: heartbeat\ndata: {"type":"heartbeat"}\n\n',
                frame("e2", "chat.turn.completed", chatId="c2"),
                frame("e3", "some.future.type", anything=1),
            ]
        )

    events: list[EngineEvent] = []
    async with mock_client(handler) as client:
        # The server ends the stream; the reconnect finds the replica gone, which ends the iteration.
        with pytest.raises(NotFoundError):
            await collect(client, into=events)
    assert [event.type for event in events] == ["chat.created", "chat.turn.completed", "some.future.type"]
    assert [event.chat_id for event in events] == ["c1", "c2", None]
    assert events[2].payload == {"anything": 1}


async def test_resumes_after_a_drop_without_losing_or_repeating(mock_client: MockClient) -> None:
    last_event_ids: list[str | None] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        last_event_ids.append(request.headers.get("last-event-id"))
        if len(last_event_ids) == 1:
            return sse_response([frame("e1", "a"), frame("e2", "b")], drop=True)
        if len(last_event_ids) == 2:
            # A server that replays the last event it sent: the client must not yield it twice.
            return sse_response([frame("e2", "b"), frame("e3", "c")], drop=True)
        return httpx2.Response(409, json={"error": "Workspace is sleeping"})

    async with mock_client(handler) as client:
        events: list[EngineEvent] = []
        with pytest.raises(WorkspaceSleepingError):
            await collect(client, into=events)
    assert [event.id for event in events] == ["e1", "e2", "e3"]
    assert last_event_ids == [None, "e2", "e3"]


async def test_a_marked_stream_says_where_it_reconnected(mock_client: MockClient) -> None:
    """The API need not replay after `Last-Event-ID`: a marked stream yields `Reconnected` in the gap's place
    (each successful reconnect, in order), so its reader can look at what it may have missed."""

    def handler(request: httpx2.Request) -> httpx2.Response:
        after = request.headers.get("last-event-id")
        if after is None:
            return sse_response([frame("e1", "a")], drop=True)
        if after == "e1":
            return sse_response([frame("e4", "d")], drop=True)  # e2 and e3 were sent meanwhile: lost
        return httpx2.Response(404, json={"error": "Replica not found"})

    items: list[EngineEvent | Reconnected] = []

    async def read(client: ReplicasClient) -> None:
        with anyio.fail_after(5):
            async with client.events.marked_stream("r1") as stream:
                async for item in stream:
                    items.append(item)

    async with mock_client(handler) as client:
        with pytest.raises(NotFoundError):
            await read(client)
    assert [item if isinstance(item, Reconnected) else item.id for item in items] == [
        "e1",
        Reconnected(reconnects=1),
        "e4",
    ]


async def test_resume_from_a_given_event_id(mock_client: MockClient) -> None:
    seen: list[str | None] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request.headers.get("last-event-id"))
        return sse_response([frame("e5", "a")], hang=True)

    async with mock_client(handler) as client:
        with anyio.fail_after(5):
            async with client.events.stream("r1", last_event_id="e4") as stream:
                first = await anext(stream)
    assert first.id == "e5"
    assert seen == ["e4"]


async def test_gives_up_after_max_reconnects(mock_client: MockClient) -> None:
    calls = 0

    def handler(request: httpx2.Request) -> httpx2.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            return sse_response([frame("e1", "a")], drop=True)
        return httpx2.Response(503, json={"error": "Service unavailable"})

    async with mock_client(handler) as client:
        with pytest.raises(StreamError, match="after 3 attempts"):
            await collect(client, max_reconnects=3)
    assert calls == 4


async def test_open_errors_raise_at_entry(mock_client: MockClient) -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(409, json={"error": "Workspace is sleeping"})

    async with mock_client(handler) as client:
        with pytest.raises(WorkspaceSleepingError):
            async with client.events.stream("r1"):
                pytest.fail("the stream should not open")


async def test_cancellation_closes_the_connection(mock_client: MockClient) -> None:
    closed = anyio.Event()

    def handler(request: httpx2.Request) -> httpx2.Response:
        async def body() -> AsyncIterator[bytes]:
            try:
                yield frame("e1", "a")
                await anyio.sleep_forever()
            finally:
                closed.set()

        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=body())

    async with mock_client(handler) as client:
        received: list[str] = []
        with anyio.move_on_after(0.2):
            async with client.events.stream("r1") as stream:
                async for event in stream:
                    received.append(event.id)
        with anyio.fail_after(2):
            await closed.wait()
    assert received == ["e1"]


async def test_breaking_out_closes_the_connection(mock_client: MockClient) -> None:
    closed = anyio.Event()

    def handler(request: httpx2.Request) -> httpx2.Response:
        async def body() -> AsyncIterator[bytes]:
            try:
                yield frame("e1", "a") + frame("e2", "b")
                await anyio.sleep_forever()
            finally:
                closed.set()

        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=body())

    async with mock_client(handler) as client:
        with anyio.fail_after(2):
            async with client.events.stream("r1") as stream:
                async for _event in stream:
                    break
            await closed.wait()


async def test_honours_the_servers_retry_delay(
    mock_client: MockClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="replicas_mcp.client")
    times: list[float] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        times.append(time.monotonic())
        if len(times) == 1:
            return sse_response([b"retry: 150\n\n", frame("e1", "a")], drop=True)
        return httpx2.Response(404, json={"error": "Replica not found"})

    with stamina.set_testing(False):
        async with mock_client(handler) as client:
            with pytest.raises(NotFoundError):
                await collect(client)
    # The reconnect logs the delay it then sleeps: the server's 150 ms, not the 500 ms default.
    [reconnect] = [r.getMessage() for r in caplog.records if "reconnecting in" in r.getMessage()]
    assert "reconnecting in 0.15s" in reconnect
    assert times[1] - times[0] >= 0.15  # and it waited that long before reconnecting


async def test_a_long_lived_connection_resets_the_attempt_count(mock_client: MockClient) -> None:
    calls = 0

    def handler(request: httpx2.Request) -> httpx2.Response:
        nonlocal calls
        calls += 1
        if calls > 4:
            return httpx2.Response(404, json={"error": "Replica not found"})

        async def body() -> AsyncIterator[bytes]:
            yield b": heartbeat\n\n"
            await anyio.sleep(0.05)  # healthy for a while, then dropped
            raise httpx2.ReadError("connection reset by peer")

        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=body())

    async with mock_client(handler) as client:
        stream = client.events.stream("r1", max_reconnects=1)
        stream.healthy_connection_seconds = 0.04
        with pytest.raises(NotFoundError):  # not StreamError after the second drop
            await drain(stream)
    assert calls == 5


async def test_connected_is_false_from_an_end_until_the_reconnect_succeeds(mock_client: MockClient) -> None:
    """The upstream ends a replica's stream when the workspace stops: between that end and a successful
    reconnect, `connected` says the stream proves nothing about the replica being awake."""
    seen_while_connecting: list[bool] = []
    stream: EngineEventStream | None = None

    def handler(request: httpx2.Request) -> httpx2.Response:
        if stream is not None:
            seen_while_connecting.append(stream.connected)
        if len(seen_while_connecting) > 2:
            return httpx2.Response(409, json={"error": "Workspace is sleeping"})
        return sse_response([frame(f"e{len(seen_while_connecting)}", "chat.updated")])

    connected_at_events: list[bool] = []

    async def follow(stream: EngineEventStream) -> None:
        with anyio.fail_after(5):
            async with stream as events:
                async for _event in events:
                    connected_at_events.append(stream.connected)

    async with mock_client(handler) as client:
        stream = client.events.stream("r1")
        assert not stream.connected
        with pytest.raises(WorkspaceSleepingError):
            await follow(stream)
        assert not stream.connected
    assert connected_at_events == [True, True]  # each event came over a connection open then
    assert seen_while_connecting == [False, False, False]  # the first open, after an end, after an end
