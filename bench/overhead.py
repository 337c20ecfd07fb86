"""Section 1: per-call overhead of get_replica on every path, interleaved in one run.

Rows share one sandbox process, so its cost is the same for all. Every row keeps its connection (or
MCP session) open for the whole section. After a warm-up, the rows take turns in shuffled order, a
batch of calls each, round after round: noise from other work on the machine spreads over all rows
instead of landing on one. p50/p95 of every row are reported with their ratio to the raw request (a).

(a) raw: one `httpx2` GET /v1/replica/{id} on a kept-alive connection, body decoded with `.json()`.
(a2) raw, the tool's requests: what the get_replica tool sends upstream (the never-wake status lookup
     in the list endpoint, then the details): a reference that separates API round trips from overhead.
(b) client: `ReplicasClient.replicas.get(id)` (validated model).
(c) in-memory: `mcp.Client(server)` in this process, `call_tool("get_replica")`.
(d) stdio: `replicas-mcp` as a child process pointed at the same sandbox.
(e) Streamable HTTP, SSE mode and JSON-response mode: the server in a child process.
(c0, d0, e0) the SDK floor: the same transports to `bench.noop`, a server whose get_replica answers a
     canned result of the same size with no API call: what the SDK and transport cost by themselves.
"""

from __future__ import annotations

import random
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

from mcp import Client

from bench.results import Report, Target
from bench.sessions import Call, checked, http_server, in_memory, in_memory_noop, over_http, over_stdio
from bench.stats import ms, percentile, ratio
from bench.world import World
from replicas_mcp.client import ReplicasClient


@dataclass(frozen=True)
class OverheadPlan:
    warmup: int
    rounds: int
    batch: int


FULL = OverheadPlan(warmup=30, rounds=40, batch=25)
SHORT = OverheadPlan(warmup=2, rounds=2, batch=3)

# (key, label, target ratio of p50 to raw p50; None: reference row without a target)
ROWS: tuple[tuple[str, str, float | None], ...] = (
    ("raw", "(a) raw httpx2 GET", None),
    ("raw_tool_requests", "(a2) raw: list + details (the tool's 2 requests)", None),
    ("client", "(b) ReplicasClient", 1.15),
    ("in_memory", "(c) MCP in-memory", 1.5),
    ("stdio", "(d) MCP stdio", 2.4),
    ("http_sse", "(e) MCP HTTP, SSE mode", 2.5),
    ("http_json", "(e) MCP HTTP, JSON mode", 2.5),
    ("noop_in_memory", "(c0) SDK floor: no-op tool in-memory", None),
    ("noop_stdio", "(d0) SDK floor: no-op tool over stdio", None),
    ("noop_http_sse", "(e0) SDK floor: no-op tool over HTTP (SSE)", None),
)


async def _open_rows(stack: AsyncExitStack, world: World) -> dict[str, Call]:
    rid = world.target
    args = {"replica_id": rid}
    http = await stack.enter_async_context(world.http())
    client = await stack.enter_async_context(ReplicasClient(api_key=world.key, base_url=world.base_url))
    memory = await stack.enter_async_context(in_memory(world))
    stdio = await stack.enter_async_context(over_stdio(world))
    sse_url, _ = await stack.enter_async_context(http_server(world, json_response=False))
    json_url, _ = await stack.enter_async_context(http_server(world, json_response=True))
    sse = await stack.enter_async_context(over_http(sse_url))
    jsn = await stack.enter_async_context(over_http(json_url))
    noop_memory = await stack.enter_async_context(in_memory_noop())
    noop_stdio = await stack.enter_async_context(over_stdio(world, noop=True))
    noop_url, _ = await stack.enter_async_context(http_server(world, json_response=False, noop=True))
    noop_sse = await stack.enter_async_context(over_http(noop_url))

    async def raw() -> Any:
        response = await http.get(f"/v1/replica/{rid}")
        response.raise_for_status()
        return response.json()

    async def raw_tool_requests() -> Any:
        listed = await http.get("/v1/replica", params={"page": 1, "limit": 100})
        listed.raise_for_status()
        listed.json()
        return await raw()

    async def via_client() -> Any:
        return await client.replicas.get(rid)

    def tool_call(mcp: Client) -> Call:
        async def call() -> Any:
            return checked(await mcp.call_tool("get_replica", args))

        return call

    return {
        "raw": raw,
        "raw_tool_requests": raw_tool_requests,
        "client": via_client,
        "in_memory": tool_call(memory),
        "stdio": tool_call(stdio),
        "http_sse": tool_call(sse),
        "http_json": tool_call(jsn),
        "noop_in_memory": tool_call(noop_memory),
        "noop_stdio": tool_call(noop_stdio),
        "noop_http_sse": tool_call(noop_sse),
    }


async def measure(world: World, plan: OverheadPlan, report: Report) -> None:
    samples: dict[str, list[float]] = {key: [] for key, _, _ in ROWS}
    rng = random.Random(7)
    async with AsyncExitStack() as stack:
        calls = await _open_rows(stack, world)
        for call in calls.values():
            for _ in range(plan.warmup):
                await call()
        order = list(calls)
        for _ in range(plan.rounds):
            rng.shuffle(order)
            for key in order:
                call = calls[key]
                bucket = samples[key]
                for _ in range(plan.batch):
                    start = time.perf_counter()
                    await call()
                    bucket.append(time.perf_counter() - start)
    raw50 = percentile(samples["raw"], 50)
    raw95 = percentile(samples["raw"], 95)
    rows: dict[str, Any] = {}
    for key, label, limit in ROWS:
        p50 = percentile(samples[key], 50)
        p95 = percentile(samples[key], 95)
        rows[key] = {
            "label": label,
            "n": len(samples[key]),
            "p50_ms": ms(p50),
            "p95_ms": ms(p95),
            "p50_ratio": round(ratio(p50, raw50), 3),
            "p95_ratio": round(ratio(p95, raw95), 3),
        }
        if limit is not None:
            report.add_targets(Target(f"get_replica {label} p50 / raw", limit, ratio(p50, raw50), "×"))
    report.sections["overhead"] = {"plan": plan.__dict__, "rows": rows}


def table(report: Report) -> str:
    rows = report.sections.get("overhead", {}).get("rows", {})
    if not rows:
        return ""
    lines = [f"{'get_replica path':52} {'p50 ms':>8} {'p95 ms':>8} {'p50 ×a':>7} {'p95 ×a':>7}"]
    for row in rows.values():
        lines.append(
            f"{row['label']:52} {row['p50_ms']:8.3f} {row['p95_ms']:8.3f} "
            f"{row['p50_ratio']:7.2f} {row['p95_ratio']:7.2f}"
        )
    return "\n".join(lines)
