"""Clients of the fleet: MCP over Streamable HTTP (through nginx or to one instance), signed webhooks,
and the Replicas API of the shared sandbox."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx2
from mcp import Client
from mcp.client.session import MessageHandlerFnT
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, TextContent

from bench.fleet_procs import WEBHOOK_SECRET, Fleet
from replicas_mcp.client import ReplicasClient
from replicas_mcp.client.webhooks import sign_body
from replicas_mcp.sandbox import DEFAULT_ORG_KEY


@asynccontextmanager
async def mcp_at(
    url: str, *, mode: str = "auto", message_handler: MessageHandlerFnT | None = None
) -> AsyncIterator[Client]:
    async with AsyncExitStack() as stack:
        http = await stack.enter_async_context(httpx2.AsyncClient(timeout=60))
        client = await stack.enter_async_context(
            Client(
                streamable_http_client(f"{url}/mcp", http_client=http),
                mode=mode,
                message_handler=message_handler,
            )
        )
        yield client


def text_of(result: CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


async def call(client: Client, tool: str, arguments: dict[str, Any]) -> CallToolResult:
    return await client.call_tool(tool, arguments)


async def ok(client: Client, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    result = await call(client, tool, arguments)
    assert not result.is_error, text_of(result)
    assert isinstance(result.structured_content, dict), text_of(result)
    return result.structured_content


def webhook_body(event_id: str, replica_id: str) -> bytes:
    return json.dumps(
        {
            "id": event_id,
            "type": "replica.turn_completed",
            "created_at": datetime.now(UTC).isoformat(),
            "replica": {"id": replica_id},
        }
    ).encode()


async def post_webhook(base_url: str, body: bytes) -> httpx2.Response:
    headers = {"Content-Type": "application/json", "X-Replicas-Signature": sign_body(body, WEBHOOK_SECRET)}
    async with httpx2.AsyncClient(timeout=15) as http:
        return await http.post(f"{base_url}/webhooks/replicas", content=body, headers=headers)


@asynccontextmanager
async def api(fleet: Fleet) -> AsyncIterator[ReplicasClient]:
    async with ReplicasClient(api_key=DEFAULT_ORG_KEY, base_url=fleet.sandbox_url) as client:
        yield client


@asynccontextmanager
async def slow_creates(fleet: Fleet, seconds: float) -> AsyncIterator[None]:
    """Every `POST /v1/replica` of the shared sandbox waits `seconds` before it is handled."""
    rule = {"kind": "latency", "seconds": seconds, "route": "/v1/replica", "method": "POST", "times": None}
    async with httpx2.AsyncClient(base_url=fleet.sandbox_url, timeout=10) as http:
        added = await http.post("/_sandbox/faults", json=rule)
        assert added.status_code < 300, added.text
        try:
            yield
        finally:
            await http.delete(f"/_sandbox/faults/{added.json()['fault']['id']}")
