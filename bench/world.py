"""The benchmark's world: a sandbox process seeded with 10 active replicas, one with 50+ history events."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx2

from bench.procs import child, child_env

REPLICAS = 10
HISTORY_EVENTS = 50
SEED_TIMEOUT = 60.0
FIRE_AND_FORGET = {"X-Replicas-Api-Version": "2026-05-17"}


@dataclass(frozen=True)
class World:
    base_url: str
    key: str
    sandbox_pid: int
    replica_ids: tuple[str, ...]
    target: str  # the replica every get_replica call reads (active, with a PR and a chat)
    history_replica: str  # has at least HISTORY_EVENTS history events

    def server_env(self, **extra: str) -> dict[str, str]:
        """Environment for a `replicas-mcp` child pointed at this sandbox."""
        # The bench's one caller stands in for many (100 concurrent waits, 1,000 subscriptions): no per-caller
        # wait or subscription cap.
        base = {
            "REPLICAS_BASE_URL": self.base_url,
            "REPLICAS_API_KEY": self.key,
            "REPLICAS_MCP_MAX_WAITS": "0",
            "REPLICAS_MCP_MAX_SUBSCRIPTIONS": "0",
        }
        return child_env({**base, **extra})

    def http(self) -> httpx2.AsyncClient:
        return _api(self.base_url, self.key)


def _api(base_url: str, key: str) -> httpx2.AsyncClient:
    """Raw HTTP to the sandbox's API with `key`, on kept-alive connections."""
    return httpx2.AsyncClient(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30.0)


@contextlib.asynccontextmanager
async def running_world() -> AsyncIterator[World]:
    argv = [sys.executable, "-m", "bench.sandbox_proc"]
    async with child(argv, child_env(), "sandbox") as sandbox:
        base_url = str(sandbox.ready["base_url"])
        key = str(sandbox.ready["key"])
        async with _api(base_url, key) as api, asyncio.timeout(SEED_TIMEOUT):
            ids = await _seed(api)
        yield World(
            base_url=base_url,
            key=key,
            sandbox_pid=sandbox.pid,
            replica_ids=tuple(ids),
            target=ids[0],
            history_replica=ids[0],
        )


async def _seed(api: httpx2.AsyncClient) -> list[str]:
    environments = (await _ok(api.get("/v1/environments")))["environments"]
    environment_id = next(e["id"] for e in environments if e.get("repository_id"))
    ids: list[str] = []
    for index in range(REPLICAS):
        body = {
            "name": f"bench-{index}",
            "message": "Fix the flaky login test and open a PR [[pr]]",
            "environment_id": environment_id,
        }
        created = await _ok(api.post("/v1/replica", json=body, headers=FIRE_AND_FORGET))
        ids.append(str(created["replica"]["id"]))
    for replica_id in ids:
        await _wait_idle(api, replica_id)
    turn = 1
    while (await _history_total(api, ids[0])) < HISTORY_EVENTS:
        turn += 1
        await _ok(
            api.post(f"/v1/replica/{ids[0]}/messages", json={"message": f"Step {turn}: tighten the tests"})
        )
        await _wait_idle(api, ids[0])
    return ids


async def _ok(request: Any) -> Any:
    response: httpx2.Response = await request
    if response.status_code >= 400:
        raise RuntimeError(f"seeding the sandbox failed: {response.status_code} {response.text[:300]}")
    return response.json()


async def _history_total(api: httpx2.AsyncClient, replica_id: str) -> int:
    return int((await _ok(api.get(f"/v1/replica/{replica_id}/history", params={"limit": 1})))["total"])


async def _wait_idle(api: httpx2.AsyncClient, replica_id: str) -> None:
    while True:
        listed = (await _ok(api.get("/v1/replica", params={"limit": 100})))["replicas"]
        item = next((r for r in listed if r["id"] == replica_id), None)
        if item is not None and item["status"] == "active":
            details = (await _ok(api.get(f"/v1/replica/{replica_id}")))["replica"]
            if details["chats"] and not any(chat["processing"] for chat in details["chats"]):
                return
        await asyncio.sleep(0.02)
