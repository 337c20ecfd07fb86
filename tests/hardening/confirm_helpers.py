"""Confirmation test pieces: an elicitation callback that answers as told, a server under a policy over a
seeded sandbox (optionally with a message queued behind a busy agent, so that clearing or replacing the
queue has something to lose), and a count of the requests that change something upstream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
from mcp import Client
from mcp.types import ElicitResult

from replicas_mcp.client import ReplicasClient
from replicas_mcp.config import ConfirmPolicy
from replicas_mcp.sandbox.serve import RunningSandbox

from .helpers import World, build_hardened_server, seed_world, server_settings


@dataclass
class Asker:
    """An elicitation callback that answers as told and records what it was asked."""

    action: str = "accept"
    content: dict[str, Any] | None = field(default_factory=lambda: {"confirm": True})
    asked: list[str] = field(default_factory=list)

    async def __call__(self, context: Any, params: Any) -> ElicitResult:
        self.asked.append(params.message)
        return ElicitResult(action=self.action, content=self.content if self.action == "accept" else None)


QUEUED_TEXT = "Then update the changelog"


async def queue_a_message(api: ReplicasClient, world: World) -> str:
    """Keep the seeded replica's agent busy with a long turn, with one message waiting behind it: its id."""
    await api.replicas.send_message(world.replica_id, "Keep working [[slow:900]]", chat_id=world.chat_id)
    waiting = await api.replicas.send_message(world.replica_id, QUEUED_TEXT, chat_id=world.chat_id)
    assert waiting.status == "queued", waiting
    assert waiting.message_id is not None
    # Settled: the long turn runs and only this message waits (a question that changed between the first
    # round and the retry would be asked again, as it should).
    with anyio.fail_after(20):
        while [m.id for m in (await api.queue.get(world.replica_id, world.chat_id)).queue] != [
            waiting.message_id
        ]:
            await anyio.sleep(0.05)
    return waiting.message_id


@asynccontextmanager
async def connected(
    sandbox: RunningSandbox,
    *,
    policy: ConfirmPolicy,
    mode: str = "auto",
    asker: Asker | None = None,
    queued: bool = False,
) -> AsyncIterator[tuple[Client, World]]:
    """A client of a server under `policy`; with `queued`, a message waits behind the busy agent."""
    async with ReplicasClient(api_key=sandbox.org_key, base_url=sandbox.base_url, max_retries=0) as api:
        world = await seed_world(api)
        if queued:
            await queue_a_message(api, world)
        server = build_hardened_server(server_settings(sandbox, sandbox.org_key), api, policy=policy)
        async with Client(server, mode=mode, elicitation_callback=asker) as client:
            yield client, world


def writes(sandbox: RunningSandbox) -> int:
    """Requests that change something upstream (reads to build a question change nothing)."""
    return sum(n for key, n in sandbox.faults.stats.requests.items() if not key.startswith("GET "))
