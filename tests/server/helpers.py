"""Helpers for server tests: an MCP client bound to a sandbox, and small waits.

Under pytest-asyncio the `mcp.Client` must be entered and left in the test's own task, so `connect` is an
async context manager used inside the test body, never a yield fixture.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from mcp import Client
from mcp.client.session import MessageHandlerFnT
from mcp.types import CallToolResult

from replicas_mcp.client import ReplicasClient
from replicas_mcp.config import Settings
from replicas_mcp.sandbox.serve import RunningSandbox
from replicas_mcp.server import build_server

from ..helpers import eventually, text

MODES = ("auto", "legacy")  # 2026-07-28 and a 2025-11-25 handshake client


def settings(**fields: Any) -> Settings:
    fields.setdefault("watch_poll_interval", 0.05)
    return Settings(**fields)


@asynccontextmanager
async def connect(
    sandbox: RunningSandbox,
    *,
    mode: str = "auto",
    key: str | None = None,
    message_handler: MessageHandlerFnT | None = None,
    **fields: Any,
) -> AsyncIterator[Client]:
    """An MCP client talking in-process to a server whose ReplicasClient points at the sandbox
    (`message_handler`: as for `mcp.Client`, e.g. to receive a legacy session's notifications)."""
    async with ReplicasClient(
        api_key=key or sandbox.org_key, base_url=sandbox.base_url, max_retries=0
    ) as api:
        server = build_server(settings(**fields), client=api)
        async with Client(server, mode=mode, message_handler=message_handler) as client:
            yield client


async def call(client: Client, name: str, args: dict[str, Any] | None = None) -> CallToolResult:
    with anyio.fail_after(20):
        result = await client.call_tool(name, args or {})
    assert not result.is_error, f"{name} failed: {text(result)}"
    return result


async def call_error(client: Client, name: str, args: dict[str, Any] | None = None) -> str:
    with anyio.fail_after(20):
        result = await client.call_tool(name, args or {})
    assert result.is_error, f"{name} unexpectedly succeeded: {text(result)}"
    message = text(result)
    assert message != f"Error executing tool {name}", "a bare error reached the model"
    return message


def data(result: CallToolResult) -> dict[str, Any]:
    assert result.structured_content is not None
    return dict(result.structured_content)


async def bound_environment(client: Client) -> str:
    envs = data(await call(client, "list_environments"))["environments"]
    return str(next(env["id"] for env in envs if env.get("repository_id")))


async def new_replica(client: Client, name: str, message: str = "Fix the login timeout") -> str:
    env = await bound_environment(client)
    created = data(
        await call(client, "create_replica", {"name": name, "message": message, "environment_id": env})
    )
    replica_id = str(created["id"])
    await wait_idle(client, replica_id)
    return replica_id


async def wait_idle(client: Client, replica_id: str) -> None:
    """Active, with no chat processing (a turn finished)."""

    async def idle() -> bool:
        result = await client.call_tool("get_replica", {"replica_id": replica_id})
        if result.is_error:
            return False
        view = data(result)
        chats = view.get("chats", [])
        return view["status"] == "active" and bool(chats) and not any(c.get("processing") for c in chats)

    await eventually(idle)


def wire_size(payload: Any) -> int:
    """Bytes of compact JSON, as the payload goes over the wire."""
    return len(json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode())
