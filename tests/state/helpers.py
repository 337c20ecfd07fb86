"""Helpers for the economy tests: an organization of any size, and upstream request counts per call."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio
from mcp import Client

from replicas_mcp.client import ReplicasClient
from replicas_mcp.config import Settings
from replicas_mcp.sandbox.serve import RunningSandbox
from replicas_mcp.server import build_server


def add_sleeping_replicas(sandbox: RunningSandbox, count: int, prefix: str = "filler") -> list[str]:
    """`count` sleeping replicas, newer than every replica so far (the list shows them first)."""
    workspaces = sandbox.world.org().workspaces
    ids = []
    for index in range(count):
        replica = workspaces.create(
            name=f"{prefix}-{index}", message="Keep the lights on", environment_id="global"
        )
        workspaces.force_status(replica, "sleeping")
        ids.append(replica.id)
    return ids


def requests(sandbox: RunningSandbox) -> int:
    """Upstream requests the sandbox received since its stats were last reset."""
    return sum(sandbox.faults.stats.requests.values())


async def counted(sandbox: RunningSandbox, call: Callable[[], Awaitable[Any]]) -> int:
    sandbox.faults.stats.reset()
    await call()
    return requests(sandbox)


@asynccontextmanager
async def mcp_client(sandbox: RunningSandbox, **fields: Any) -> AsyncIterator[tuple[Client, ReplicasClient]]:
    fields.setdefault("watch_poll_interval", 0.05)
    async with ReplicasClient(api_key=sandbox.org_key, base_url=sandbox.base_url, max_retries=0) as api:
        server = build_server(
            Settings(api_key=sandbox.org_key, base_url=sandbox.base_url, **fields), client=api
        )
        async with Client(server) as client:
            yield client, api


async def tool(client: Client, name: str, **args: Any) -> dict[str, Any]:
    with anyio.fail_after(30):
        result = await client.call_tool(name, args)
    assert not result.is_error, f"{name} failed: {result.content}"
    assert result.structured_content is not None
    return dict(result.structured_content)
