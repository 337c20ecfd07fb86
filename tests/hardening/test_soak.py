"""A bounded soak: concurrent MCP sessions over Streamable HTTP (loopback) against the sandbox, with faults.

Each session owns a replica and, until the time is up, sends it a uniquely numbered message, reads its
history and status, and waits for the turn to finish; meanwhile faults are injected on the API routes the
sessions use. Checked at the end: the server never crashed (every session finished), every message whose send
succeeded is in its replica's history exactly once and every failed send is not there at all, every error
is one the injected faults explain, and memory stayed roughly flat. The numbers are printed.

Bounds (small in CI): REPLICAS_SOAK_SECONDS (default 6), REPLICAS_SOAK_SESSIONS (default 4).
"""

from __future__ import annotations

import os
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import anyio
import psutil
import pytest
from mcp import Client
from mcp.types import TextContent

from replicas_mcp.client import ReplicasClient
from replicas_mcp.sandbox.faults import FaultController
from replicas_mcp.sandbox.serve import RunningSandbox
from replicas_mcp.sandbox.world import DEFAULT_ORG_KEY

from .http_helpers import http_server, mcp_client

SECONDS = float(os.environ.get("REPLICAS_SOAK_SECONDS", "6"))
SESSIONS = int(os.environ.get("REPLICAS_SOAK_SESSIONS", "4"))
FAULT_EVERY = 1.0
RSS_GROWTH_LIMIT = 150 * 1024 * 1024  # generous: only a leak per call or per message would cross it
# What an error caused by an injected fault says (the server's messages for 5xx, 429 and dropped connections).
FAULT_SIGNS = ("503", "500", "429", "Rate limited", "connection failed", "could not be", "did not answer")


@dataclass
class Tally:
    calls: int = 0
    errors: list[str] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)
    failed_sends: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    per_tool: Counter[str] = field(default_factory=Counter)


def _text(result: Any) -> str:
    return "".join(block.text for block in result.content if isinstance(block, TextContent))


async def _call(client: Client, tally: Tally, tool: str, arguments: dict[str, Any]) -> Any:
    tally.calls += 1
    began = time.monotonic()
    with anyio.fail_after(30):
        result = await client.call_tool(tool, arguments)
    tally.seconds[tool] = tally.seconds.get(tool, 0.0) + time.monotonic() - began
    tally.per_tool[tool] += 1
    if result.is_error:
        tally.errors.append(f"{tool}: {_text(result)}")
        return None
    return result.structured_content or {}


async def _session(url: str, index: int, replica_id: str, deadline: float, tally: Tally) -> None:
    mode = "auto" if index % 2 == 0 else "legacy"
    async with mcp_client(url, mode=mode) as client:
        number = 0
        while time.monotonic() < deadline:
            message = f"soak-s{index}-m{number}"
            number += 1
            sent = await _call(
                client, tally, "send_replica_message", {"replica_id": replica_id, "message": message}
            )
            (tally.sent if sent is not None else tally.failed_sends).append(message)
            await _call(client, tally, "read_replica_history", {"replica_id": replica_id, "max_chars": 500})
            await _call(client, tally, "list_replicas", {"limit": 5})
            with anyio.move_on_after(5):  # until the turn is done (or give up and send the next anyway)
                while True:
                    view = await _call(client, tally, "get_replica", {"replica_id": replica_id})
                    if view is not None and not any(chat.get("processing") for chat in view.get("chats", [])):
                        break
                    await anyio.sleep(0.05)


async def _inject_faults(faults: FaultController, deadline: float) -> None:
    while time.monotonic() < deadline:
        faults.inject_status(503, route="/v1/replica/{id}/messages", method="POST", times=1)
        faults.inject_status(500, route="/v1/replica/{id}/history", method="GET", times=1)
        faults.inject_status(429, route="/v1/replica", method="GET", times=1, retry_after=0)
        faults.drop_connection(route="/v1/replica/{id}", method="GET", times=1)
        await anyio.sleep(FAULT_EVERY)


async def _user_messages(api: ReplicasClient, replica_id: str) -> Counter[str]:
    """How often each text appears as a user message in the replica's whole history."""
    seen: Counter[str] = Counter()
    offset = 0
    while True:
        page = await api.history.read(replica_id, limit=200, offset=offset)
        for event in page.events:
            payload = event.payload if isinstance(event.payload, dict) else {}
            if payload.get("type") != "user":
                continue
            for part in (payload.get("message") or {}).get("content") or []:
                if isinstance(part, dict) and part.get("type") == "text":
                    seen[str(part.get("text"))] += 1
        offset += len(page.events)
        if not page.has_more or not page.events:
            return seen


async def _wait_idle(api: ReplicasClient, replica_id: str) -> None:
    with anyio.fail_after(30):
        while True:
            details = await api.replicas.get(replica_id)
            if not any(chat.processing for chat in details.chats):
                return
            await anyio.sleep(0.1)


@pytest.mark.slow
async def test_soak_concurrent_sessions_with_faults(sandbox: RunningSandbox) -> None:
    process = psutil.Process()
    tally = Tally()
    async with http_server(sandbox, api_key=DEFAULT_ORG_KEY, toolsets=("replicas",)) as (url, _server):
        replicas = await _create_replicas(sandbox, SESSIONS)
        # Warm up (imports, pools, first sessions) before the baseline.
        async with mcp_client(url) as client:
            await _call(client, tally, "list_replicas", {})
        rss_before = process.memory_info().rss
        started = time.monotonic()
        deadline = started + SECONDS
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(_inject_faults, sandbox.faults, deadline)
            for index, replica_id in enumerate(replicas):
                tasks.start_soon(_session, url, index, replica_id, deadline, tally)
        elapsed = time.monotonic() - started
        fired = sum(rule.fired for rule in sandbox.faults.rules)
        sandbox.faults.clear()
        rss_after = process.memory_info().rss

        async with ReplicasClient(api_key=DEFAULT_ORG_KEY, base_url=sandbox.base_url) as api:
            counts: Counter[str] = Counter()
            for replica_id in replicas:
                await _wait_idle(api, replica_id)
                counts.update(await _user_messages(api, replica_id))

    print(
        f"\nsoak: {SESSIONS} sessions x {elapsed:.1f} s over HTTP: {tally.calls} tool calls "
        f"({tally.calls / elapsed:.0f}/s), {len(tally.sent)} messages sent, {len(tally.failed_sends)} sends "
        f"failed, {len(tally.errors)} tool errors, {fired} faults fired; RSS {rss_before / 2**20:.0f} -> "
        f"{rss_after / 2**20:.0f} MiB"
    )
    for tool, count in tally.per_tool.items():
        print(f"  {tool}: {count} calls, mean {1000 * tally.seconds[tool] / count:.0f} ms")
    for error in tally.errors[:8]:
        print("  error:", error[:160])
    assert tally.sent, "no message got through"
    assert fired > 0, "no fault fired: the soak proved nothing about faults"
    duplicated = {m: n for m, n in counts.items() if m.startswith("soak-") and n > 1}
    assert not duplicated, f"messages delivered more than once: {duplicated}"
    missing = [m for m in tally.sent if counts[m] != 1]
    assert not missing, f"sent but not in history exactly once: {missing}"
    ghosts = [m for m in tally.failed_sends if counts[m] != 0]
    assert not ghosts, f"reported as failed but delivered: {ghosts}"
    unexplained = [e for e in tally.errors if not any(sign in e for sign in FAULT_SIGNS)]
    assert not unexplained, f"errors no injected fault explains: {unexplained[:5]}"
    assert len(tally.errors) <= fired
    assert rss_after - rss_before < RSS_GROWTH_LIMIT


async def _create_replicas(sandbox: RunningSandbox, count: int) -> list[str]:
    async with ReplicasClient(api_key=DEFAULT_ORG_KEY, base_url=sandbox.base_url) as api:
        envs = await api.environments.list()
        env = next(e.id for e in envs if getattr(e, "repository_id", None))
        ids = [
            (await api.replicas.create(name=f"soak-{n}", message=f"soak-start-{n}", environment_id=env)).id
            for n in range(count)
        ]
        with anyio.fail_after(30):
            for replica_id in ids:
                while (item := await api.replicas.status(replica_id)) is None or item.status != "active":
                    await anyio.sleep(0.05)
        for replica_id in ids:
            await _wait_idle(api, replica_id)
        return ids
