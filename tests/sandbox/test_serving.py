"""Serving on loopback: answers are not held back by Nagle; shutdown is quick and leaves nothing behind."""

from __future__ import annotations

import asyncio
import contextlib
import time

import anyio

from replicas_mcp.sandbox.serve import _bind, running_sandbox

from ..helpers import nodelay_of_accepted
from .sandbox_helpers import client, create_replica, wait_status


async def test_the_sandbox_accepts_connections_with_nagle_off() -> None:
    """Without TCP_NODELAY on accepted sockets each answer written as head then body waited ~40 ms for the
    client's delayed ACK: the listener says IPPROTO_TCP, so asyncio turns Nagle off on what it accepts."""
    assert await nodelay_of_accepted(_bind("127.0.0.1", 0)) != 0


async def test_shutdown_ends_open_streams_and_abandoned_requests_at_once_leaving_no_task() -> None:
    before = asyncio.all_tasks()
    with anyio.fail_after(10):
        async with contextlib.AsyncExitStack() as server_stack:
            sandbox = await server_stack.enter_async_context(running_sandbox(time_scale=0.05))
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
                    started = time.perf_counter()
                    await server_stack.aclose()
                    stopped_after = time.perf_counter() - started
                    replayed = (await response.aread()).decode()  # the server ended the stream
    assert stopped_after < 1.0  # uvicorn's own shutdown would wait 2 s for the abandoned request
    assert "engine.ready" in replayed
    assert asyncio.all_tasks() - before == set()
