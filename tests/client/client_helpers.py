"""Helpers shared by the client tests (a module, not the conftest, so tests can import it)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import httpx2
from pydantic import SecretStr

from replicas_mcp.client import ReplicasClient
from replicas_mcp.client._http import HttpCore

# A key that must never appear in any error text, repr or log record.
CANARY_KEY = "sk_replicas_CANARY7f3a9c1e5b2d4086"
BASE_URL = "http://replicas.test"

# The `mock_client` fixture (conftest): builds a client whose requests go to a handler.
MockClient = Callable[..., ReplicasClient]


def json_response(status: int, body: object, headers: dict[str, str] | None = None) -> httpx2.Response:
    return httpx2.Response(status, json=body, headers=headers)


def replica_item(replica_id: str, name: str, status: str = "active", **extra: object) -> dict[str, object]:
    return {
        "id": replica_id,
        "name": name,
        "status": status,
        "source": "api",
        "created_at": "2026-05-26T07:29:55.000Z",
        "last_activity_at": None,
        "repositories": [],
        "pull_requests": [],
        **extra,
    }


def list_page(items: list[dict[str, object]], *, page: int = 1, total_pages: int = 1) -> dict[str, object]:
    return {"replicas": items, "total": len(items), "page": page, "limit": 100, "total_pages": total_pages}


@asynccontextmanager
async def scripted_core(handler: Callable[[httpx2.Request], httpx2.Response]) -> AsyncIterator[HttpCore]:
    """An `HttpCore` whose every request is answered by `handler` (no network); closed on exit."""
    core = HttpCore.create(
        api_key=SecretStr("sk_replicas_unit_test_key"),
        base_url="http://api.test",
        transport=httpx2.MockTransport(handler),
    )
    try:
        yield core
    finally:
        await core.aclose()
