"""Confirmation test pieces: an elicitation callback that answers as told, a server under a policy over a
seeded sandbox, and a count of the requests that change something upstream."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

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


@asynccontextmanager
async def connected(
    sandbox: RunningSandbox, *, policy: ConfirmPolicy, mode: str = "auto", asker: Asker | None = None
) -> AsyncIterator[tuple[Client, World]]:
    async with ReplicasClient(api_key=sandbox.org_key, base_url=sandbox.base_url, max_retries=0) as api:
        world = await seed_world(api)
        server = build_hardened_server(server_settings(sandbox, sandbox.org_key), api, policy=policy)
        async with Client(server, mode=mode, elicitation_callback=asker) as client:
            yield client, world


def writes(sandbox: RunningSandbox) -> int:
    """Requests that change something upstream (reads to build a question change nothing)."""
    return sum(n for key, n in sandbox.faults.stats.requests.items() if not key.startswith("GET "))
