"""Serving on loopback: answers are not held back by Nagle; shutdown ends what is open and leaves nothing
behind."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import anyio
import httpx2
import pytest

from replicas_mcp.sandbox.serve import _bind, running_sandbox

from ..helpers import nodelay_of_accepted
from .sandbox_helpers import client, create_replica, wait_status


async def test_the_sandbox_accepts_connections_with_nagle_off() -> None:
    """Without TCP_NODELAY on accepted sockets each answer written as head then body waited ~40 ms for the
    client's delayed ACK: the listener says IPPROTO_TCP, so asyncio turns Nagle off on what it accepts."""
    assert await nodelay_of_accepted(_bind("127.0.0.1", 0)) != 0


async def test_shutdown_ends_open_streams_and_abandoned_requests_leaving_no_task_and_freeing_the_port(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # What a shutdown does, not how fast (speed targets live in bench/): uvicorn's own shutdown waits out
    # its graceful timeout for a request whose client is gone; this one cancels it as soon as no connection
    # is left, so it never takes the timeout path (which logs a warning).
    before = asyncio.all_tasks()
    caplog.set_level(logging.WARNING, logger="replicas_mcp.sandbox")
    with anyio.fail_after(30):  # a hang guard
        async with contextlib.AsyncExitStack() as server_stack:
            sandbox = await server_stack.enter_async_context(running_sandbox(time_scale=0.05))
            port = httpx2.URL(sandbox.base_url).port
            assert port is not None
            async with client(sandbox) as api, client(sandbox) as streaming:
                replica = await create_replica(api)
                await wait_status(api, replica["id"], "active")
                # A request whose answer a latency fault holds back long after its client gave up ...
                sandbox.faults.add_latency(30.0, route="/v1/replica", method="GET", when="after", times=1)
                with anyio.move_on_after(0.2):
                    await api.get("/v1/replica")
                # ... and an event stream that is still open when the sandbox stops.
                events = f"/v1/replica/{replica['id']}/events"
                async with streaming.stream("GET", events, headers={"Last-Event-ID": "0"}) as response:
                    assert response.status_code == 200
                    await server_stack.aclose()
                    replayed = (await response.aread()).decode()  # the server ended the stream
                with pytest.raises(httpx2.ConnectError):  # nobody listens any more
                    await api.get("/v1/replica")
    assert "engine.ready" in replayed
    assert asyncio.all_tasks() - before == set()
    assert not [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING]
    _bind("127.0.0.1", port).close()  # the port is free again
