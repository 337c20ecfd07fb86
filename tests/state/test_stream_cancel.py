"""A reader cancelled while the shared upstream is still opening must not leave that upstream open."""

from __future__ import annotations

import anyio

from replicas_mcp.client import ReplicasClient
from replicas_mcp.sandbox.serve import RunningSandbox
from replicas_mcp.server.state.streams import SharedStreams

from .test_interfaces import _active_replica


async def test_a_reader_cancelled_while_the_upstream_opens_leaves_no_stream_behind(
    sandbox: RunningSandbox,
) -> None:
    async with ReplicasClient(api_key=sandbox.org_key, base_url=sandbox.base_url) as client:
        rid = await _active_replica(client)
        sandbox.faults.add_latency(0.5, route="/v1/replica/{id}/events", method="GET", times=1)
        async with anyio.create_task_group() as tg:
            hub = SharedStreams(tg, linger=0.05)
            with anyio.move_on_after(0.1):
                async with hub.subscribe("me", rid, client, after=None):
                    raise AssertionError("opened before the injected latency")
            with anyio.fail_after(10):
                while hub.live_streams:  # before the fix: open for as long as the replica stays awake
                    await anyio.sleep(0.05)
            await hub.aclose()
