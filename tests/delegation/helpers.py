"""Helpers for the delegation tests: a client on the sandbox, a fast wait policy, an MCP server."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.server import MCPServer
from mcp.types import TextContent

from replicas_mcp.client import ReplicasClient
from replicas_mcp.config import Settings
from replicas_mcp.delegation import WaitPolicy
from replicas_mcp.sandbox.serve import RunningSandbox
from replicas_mcp.sandbox.workspaces.events import EventLog
from replicas_mcp.server.app import build_server
from replicas_mcp.server.state import AppState

# Both answers to `Last-Event-ID`, which neither the guide nor the contract promises to honour: the strict
# fixture's live start (the default everywhere) and the sandbox's replaying extension. `replays` says which.
BOTH_REPLAYS = pytest.mark.parametrize(
    "replays",
    [False, pytest.param(True, marks=pytest.mark.sandbox_mode(replay=True))],
    ids=["live", "replay"],
)

# Real seconds: short enough for a quick suite, long enough to mean something on a loaded machine.
FAST = WaitPolicy(poll_interval=0.1, heartbeat=0.2, settle=0.2, stream_retry=0.5)


async def call(client: Client, tool: str, /, **arguments: Any) -> dict[str, Any]:
    """A tool call that must succeed: its structured result, plus the text a model reads under "text"."""
    with anyio.fail_after(30):
        result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    block = result.content[0]
    assert isinstance(block, TextContent)
    # Every result's "Next:" says something (a line with nothing left to say is left out).
    assert not re.search(r"Next:\s*(?:\n|$)", block.text), block.text
    return {**result.structured_content, "text": block.text}


@asynccontextmanager
async def sandbox_client(sandbox: RunningSandbox) -> AsyncIterator[ReplicasClient]:
    async with ReplicasClient(api_key=sandbox.org_key, base_url=sandbox.base_url) as client:
        yield client


def server(sandbox: RunningSandbox, client: ReplicasClient, *toolsets: str) -> MCPServer[AppState]:
    """The MCP server on the sandbox (the default toolset unless `toolsets` names others, or "all")."""
    settings = Settings(api_key=sandbox.org_key, base_url=sandbox.base_url, toolsets=list(toolsets))
    return build_server(settings, client)


def event_log(sandbox: RunningSandbox, replica_id: str) -> EventLog:
    found = sandbox.world.find_replica(replica_id)
    assert found is not None
    return found[1].events
