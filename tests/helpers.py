"""Helpers every suite shares: waiting for a condition, reading a tool result's text, forcing a replica's
status in the sandbox, checking the API's error envelope, and finding an environment with a repository.
Suite-specific helpers live beside their tests (`tests/<suite>/helpers.py`) and import these from here
(`from ..helpers import ...`)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import httpx2
from mcp.types import CallToolResult, TextContent

from replicas_mcp.client import ReplicasClient
from replicas_mcp.sandbox.serve import RunningSandbox

# A raw 2025-11 `initialize` request, for tests that speak JSON-RPC to the server themselves (over HTTP, or
# to a stdio process) rather than through an MCP client.
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "replicas-mcp-tests", "version": "0"},
    },
}


async def eventually(
    check: Callable[[], Awaitable[bool]], *, timeout: float = 10.0, interval: float = 0.02
) -> None:
    """Until `check()` is true; fails the test after `timeout` seconds."""
    with anyio.fail_after(timeout):
        while not await check():
            await anyio.sleep(interval)


def text(result: CallToolResult) -> str:
    """The text blocks of a tool result, joined by line breaks."""
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


async def force_status(sandbox: RunningSandbox, replica_id: str, status: str) -> None:
    """Put a sandbox replica in `status` at once (`sleeping`, `error`, ...), through the sandbox's control
    route (docs/sandbox.md), as a test of the real API cannot."""
    async with httpx2.AsyncClient(base_url=sandbox.base_url) as http:
        response = await http.post(f"/_sandbox/replicas/{replica_id}/status", json={"status": status})
    assert response.status_code == 200, response.text


async def repo_environment(client: ReplicasClient) -> str:
    """An environment bound to a repository (so agents can edit code and open PRs)."""
    return next(env.id for env in await client.environments.list() if env.repository_id)


def assert_error(
    response: httpx2.Response, status: int, error: str | None = None, *, contains: str = ""
) -> dict[str, Any]:
    """The response is `status` with the API's `{"error", "details"}` envelope; `error`: the exact message;
    `contains`: text looked for (case-insensitively) in the error and its details."""
    assert response.status_code == status, f"{response.status_code} {response.text}"
    body: dict[str, Any] = response.json()
    assert set(body) == {"error", "details"}, body
    assert isinstance(body["error"], str)
    assert body["error"]
    if error is not None:
        assert body["error"] == error, body
    found = f"{body['error']} {body['details'] or ''}".lower()
    assert contains.lower() in found, found
    return body


async def nodelay_of_accepted(listener: socket.socket) -> int:
    """TCP_NODELAY on a connection `listener` accepts (asyncio sets it only when the listener says
    IPPROTO_TCP; without it an answer written as head then body waits for the client's delayed ACK)."""
    nodelay: list[int] = []

    async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nodelay.append(writer.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        writer.close()

    server = await asyncio.start_server(accepted, sock=listener)
    async with server:
        reader, writer = await asyncio.open_connection(*listener.getsockname()[:2])
        assert await reader.read() == b""  # the server closed it once it had looked
        writer.close()
    assert len(nodelay) == 1
    return nodelay[0]
