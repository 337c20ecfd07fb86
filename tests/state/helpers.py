"""Helpers for the economy tests: an organization of any size, and upstream request counts per call."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
from mcp import Client
from mcp.server.subscriptions import ResourceUpdated, ServerEvent

from replicas_mcp.client import ReplicasClient
from replicas_mcp.config import Settings
from replicas_mcp.sandbox.serve import RunningSandbox
from replicas_mcp.server import build_server
from replicas_mcp.server.caller import SERVER_CALLER
from replicas_mcp.server.state.directory import ReplicaDirectory
from replicas_mcp.server.state.knowledge import MemoryKnowledge
from replicas_mcp.server.state.streams import SharedStreams
from replicas_mcp.server.state.view import KnowingClient
from replicas_mcp.server.watcher import CallerBus, ReplicaWatcher, replica_uri


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


@dataclass
class Watching:
    """The server's watch machinery for its own caller, over a real client of the sandbox."""

    api: ReplicasClient
    directory: ReplicaDirectory
    watcher: ReplicaWatcher
    client: KnowingClient
    updated: list[str] = field(default_factory=list)  # resources/updated URIs, in order

    def watch(self, replica_ids: list[str]) -> None:
        self.watcher.acquire([replica_uri(rid) for rid in replica_ids], SERVER_CALLER, self.client)


@asynccontextmanager
async def watching(sandbox: RunningSandbox, *, poll: float) -> AsyncIterator[Watching]:
    """Streams, directory, watcher and bus as the server wires them, polling every `poll` seconds; every
    background task ends when the block does."""
    async with (
        ReplicasClient(api_key=sandbox.org_key, base_url=sandbox.base_url) as api,
        anyio.create_task_group() as tg,
    ):
        streams = SharedStreams(tg)
        directory = ReplicaDirectory(MemoryKnowledge(), is_live=streams.has_live)
        bus = CallerBus(lambda: SERVER_CALLER)
        watcher = ReplicaWatcher(bus, tg, poll_interval=poll, streams=streams, directory=directory)
        seen = Watching(api, directory, watcher, KnowingClient(api, directory, streams, caller=SERVER_CALLER))

        def listener(event: ServerEvent) -> None:
            if isinstance(event, ResourceUpdated):
                seen.updated.append(str(event.uri))

        bus.subscribe(listener)
        yield seen
        tg.cancel_scope.cancel()
