"""Section 5: throughput over Streamable HTTP, and 100 concurrent waits held steady.

- 8 MCP clients (each its own session and connection pool) call get_replica in a loop against one
  server process, for a fixed time after a warm-up; calls/s in SSE mode (the default) and JSON mode,
  with the CPU of the server, the sandbox and this load-generating process (all share the machine).
- 100 concurrent `wait_for_replica(until=needs_input)` calls on idle replicas (nothing will happen, so
  each waits its whole timeout): the server's CPU and RSS are sampled throughout and must stay flat.
"""

from __future__ import annotations

import asyncio
import os
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import psutil
from mcp import Client

from bench.results import Report, Target
from bench.sampling import sampling
from bench.sessions import checked, http_server, over_http
from bench.world import World

CLIENTS = 8
WAITERS = 100
WAIT_SESSIONS = 4
CALLS_PER_SECOND_TARGET = 150.0
MISSING = "n/a (tool missing)"


@dataclass(frozen=True)
class LoadPlan:
    warmup_s: float
    duration_s: float
    wait_timeout_s: int


FULL = LoadPlan(warmup_s=2.0, duration_s=10.0, wait_timeout_s=20)
SHORT = LoadPlan(warmup_s=0.3, duration_s=1.0, wait_timeout_s=2)


async def _hammer(clients: list[Client], world: World, seconds: float) -> int:
    deadline = time.perf_counter() + seconds
    args = {"replica_id": world.target}

    async def loop(client: Client) -> int:
        done = 0
        while time.perf_counter() < deadline:
            checked(await client.call_tool("get_replica", args))
            done += 1
        return done

    return sum(await asyncio.gather(*(loop(c) for c in clients)))


async def _calls_per_second(world: World, plan: LoadPlan, *, json_response: bool) -> dict[str, Any]:
    async with AsyncExitStack() as stack:
        url, pid = await stack.enter_async_context(http_server(world, json_response=json_response))
        clients = [await stack.enter_async_context(over_http(url)) for _ in range(CLIENTS)]
        await _hammer(clients, world, plan.warmup_s)
        me = psutil.Process(os.getpid())
        sandbox = psutil.Process(world.sandbox_pid)
        me.cpu_percent(None)
        sandbox.cpu_percent(None)
        async with sampling(pid) as server:
            start = time.perf_counter()
            calls = await _hammer(clients, world, plan.duration_s)
            elapsed = time.perf_counter() - start
        return {
            "calls": calls,
            "seconds": round(elapsed, 2),
            "calls_per_s": round(calls / elapsed, 1),
            "server": server.summary(),
            "sandbox_cpu_pct": round(sandbox.cpu_percent(None), 1),
            "load_generator_cpu_pct": round(me.cpu_percent(None), 1),
        }


async def _waits(world: World, plan: LoadPlan) -> dict[str, Any] | str:
    async with AsyncExitStack() as stack:
        url, pid = await stack.enter_async_context(http_server(world, json_response=False))
        sessions = [await stack.enter_async_context(over_http(url)) for _ in range(WAIT_SESSIONS)]
        tools = {tool.name: tool for tool in (await sessions[0].list_tools()).tools}
        tool = tools.get("wait_for_replica")
        if tool is None:
            return MISSING
        accepted = set((tool.input_schema or {}).get("properties", {}))
        # needs_input never holds for the bench's replicas (none asks a question): every call waits
        # its whole timeout, which is what "held steady" is about.
        wanted = {"until": "needs_input", "timeout_s": plan.wait_timeout_s}
        extra = {k: v for k, v in wanted.items() if k in accepted}
        await asyncio.sleep(0.5)  # let the server settle before the baseline sample

        async def one(index: int) -> float:
            client = sessions[index % WAIT_SESSIONS]
            args = {"replica_id": world.replica_ids[index % len(world.replica_ids)], **extra}
            start = time.perf_counter()
            checked(await client.call_tool("wait_for_replica", args))
            return time.perf_counter() - start

        async with sampling(pid, interval=0.25) as server:
            durations = await asyncio.gather(*(one(i) for i in range(WAITERS)))
        return {
            "calls": WAITERS,
            "arguments": extra,
            "max_call_s": round(max(durations), 2),
            "min_call_s": round(min(durations), 2),
            "server": server.summary(),
        }


async def measure(world: World, plan: LoadPlan, report: Report) -> None:
    sse = await _calls_per_second(world, plan, json_response=False)
    jsn = await _calls_per_second(world, plan, json_response=True)
    waits = await _waits(world, plan)
    report.sections["throughput"] = {
        "clients": CLIENTS,
        "plan": plan.__dict__,
        "get_replica_sse": sse,
        "get_replica_json": jsn,
        "wait_for_replica_x100": waits,
    }
    report.add_targets(
        Target(
            f"get_replica calls/s, {CLIENTS} HTTP clients (SSE)",
            CALLS_PER_SECOND_TARGET,
            sse["calls_per_s"],
            "/s",
            at_least=True,
        ),
        Target(
            f"get_replica calls/s, {CLIENTS} HTTP clients (JSON)",
            CALLS_PER_SECOND_TARGET,
            jsn["calls_per_s"],
            "/s",
            at_least=True,
        ),
    )
    late = None if isinstance(waits, str) else waits["max_call_s"] - plan.wait_timeout_s
    report.add_targets(
        Target(
            f"{WAITERS} concurrent wait_for_replica: slowest − timeout_s",
            1.0,
            late,
            " s",
            note=waits if isinstance(waits, str) else "",
        )
    )


def table(report: Report) -> str:
    section = report.sections.get("throughput")
    if not section:
        return ""
    lines = []
    for key, label in (("get_replica_sse", "SSE mode"), ("get_replica_json", "JSON mode")):
        row = section[key]
        lines.append(
            f"{section['clients']} HTTP clients, {label}: {row['calls_per_s']:.0f} calls/s "
            f"(server CPU {row['server']['cpu_mean_pct']}%, sandbox {row['sandbox_cpu_pct']}%, "
            f"load generator {row['load_generator_cpu_pct']}%, "
            f"server RSS peak {row['server']['rss_peak_mb']} MB)"
        )
    waits = section["wait_for_replica_x100"]
    if isinstance(waits, str):
        lines.append(f"100 concurrent wait_for_replica: {waits}")
    else:
        srv = waits["server"]
        lines.append(
            f"100 concurrent wait_for_replica {waits['arguments']}: calls took {waits['min_call_s']}-"
            f"{waits['max_call_s']} s; "
            f"server CPU {srv['cpu_first_half_pct']}% → {srv['cpu_second_half_pct']}%, "
            f"RSS {srv['rss_start_mb']} → peak {srv['rss_peak_mb']} → {srv['rss_end_mb']} MB"
        )
    return "\n".join(lines)
