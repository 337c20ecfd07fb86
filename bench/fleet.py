"""Section `fleet`: throughput of 1, 2 and 3 instances behind nginx, sharing state in Redis.

One fleet (bench/fleet_procs.py: redis-server, one sandbox, three `replicas-mcp --transport http`
instances with `--redis-url` and a rate limit high enough never to refuse, nginx in front) serves every
step; between steps nginx is reloaded with 1, 2 or 3 instances in its pool. Each step: `CLIENTS` 2026-era
MCP clients call `list_environments` (one upstream request) through nginx in a loop. Reported per step:
calls/s, p50/p95 latency, the CPU every process used (in cores: the machine has few, and the load
generator, nginx, Redis and the sandbox share them with the instances), and the Redis commands added per
tool call (commands processed minus the idle rate of the instances' health pings, over calls).
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

from bench.fleet_procs import Fleet, find_binary, start_fleet
from bench.results import Report, Target
from bench.sessions import checked, over_http
from bench.stats import ms, percentile
from bench.world import World

SIZES = (1, 2, 3)
SCALE_UP_TARGET = 1.7  # 2 instances vs 1 (issue 13), unless the cores cap it: then the CPU table says why


@dataclass(frozen=True)
class FleetPlan:
    warmup_s: float
    duration_s: float
    clients: int


FULL = FleetPlan(warmup_s=2.0, duration_s=8.0, clients=12)
SHORT = FleetPlan(warmup_s=0.3, duration_s=1.0, clients=3)


async def _hammer(clients: list[Client], seconds: float) -> list[float]:
    deadline = time.perf_counter() + seconds
    latencies: list[float] = []

    async def loop(client: Client) -> None:
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            checked(await client.call_tool("list_environments", {}))
            latencies.append(time.perf_counter() - start)

    await asyncio.gather(*(loop(c) for c in clients))
    return latencies


def _processes(fleet: Fleet) -> dict[str, psutil.Process]:
    children = {"nginx": fleet.nginx, "redis": fleet.redis, "sandbox": fleet.sandbox}
    children.update({i.name: i.child for i in fleet.instances})
    found = {name: psutil.Process(c.process.pid) for name, c in children.items() if c.process is not None}
    found["load_generator"] = psutil.Process(os.getpid())
    return found


def _cpu_seconds(processes: dict[str, psutil.Process]) -> dict[str, float]:
    totals = {}
    for name, proc in processes.items():
        # nginx's worker does its work; the load generator's children are the fleet itself.
        family = [proc, *proc.children(recursive=True)] if name == "nginx" else [proc]
        totals[name] = sum(p.cpu_times().user + p.cpu_times().system for p in family)
    return totals


def _redis_commands(fleet: Fleet) -> int:
    return int(fleet.redis_client().info("stats")["total_commands_processed"])


async def _idle_command_rate(fleet: Fleet, seconds: float) -> float:
    before = _redis_commands(fleet)
    await asyncio.sleep(seconds)
    return (_redis_commands(fleet) - before) / seconds


async def _step(fleet: Fleet, size: int, plan: FleetPlan, idle_rate: float) -> dict[str, Any]:
    await asyncio.to_thread(fleet.route_to, size)
    async with AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(over_http(f"{fleet.url}/mcp")) for _ in range(plan.clients)
        ]
        await _hammer(clients, plan.warmup_s)
        processes = _processes(fleet)
        cpu_before, commands_before = _cpu_seconds(processes), _redis_commands(fleet)
        psutil.cpu_percent(None)  # the whole machine, others' work included
        start = time.perf_counter()
        latencies = await _hammer(clients, plan.duration_s)
        elapsed = time.perf_counter() - start
        cpu_after, commands_after = _cpu_seconds(processes), _redis_commands(fleet)
        machine_busy = psutil.cpu_percent(None) / 100 * (psutil.cpu_count() or 1)
    calls = len(latencies)
    commands = commands_after - commands_before - idle_rate * elapsed
    cores = {name: round((cpu_after[name] - cpu_before[name]) / elapsed, 2) for name in processes}
    spent = {name: (cpu_after[name] - cpu_before[name]) * 1000 / max(calls, 1) for name in processes}
    cpu_ms_per_call = sum(spent.values())
    instances_ms = sum(ms_ for name, ms_ in spent.items() if name.startswith("mcp"))
    return {
        "instances": size,
        "calls": calls,
        "calls_per_s": round(calls / elapsed, 1),
        "p50_ms": round(ms(percentile(latencies, 50)), 1),
        "p95_ms": round(ms(percentile(latencies, 95)), 1),
        "redis_commands_per_call": round(max(0.0, commands) / max(calls, 1), 2),
        "cores_used": cores,
        "cores_used_total": round(sum(cores.values()), 2),
        # Everything one call costs, all processes together: with C free cores, no number of instances
        # gets past C * 1000 / this many calls per second.
        "cpu_ms_per_call": round(cpu_ms_per_call, 2),
        "cpu_ms_per_call_by": {name: round(value, 2) for name, value in spent.items()},
        "instance_cpu_ms_per_call": round(instances_ms, 2),
        "machine_cores_busy": round(machine_busy, 2),  # this fleet plus everything else on the machine
    }


async def measure(world: World, plan: FleetPlan, report: Report) -> None:
    """`world` is unused: the fleet brings its own sandbox, shared by every step."""
    if find_binary("redis-server") is None or find_binary("nginx") is None:
        report.sections["fleet"] = "skipped: redis-server and nginx are not installed"
        return
    # The bench's few clients stand in for many callers: no per-caller cap may refuse them.
    fleet = await asyncio.to_thread(
        start_fleet, len(SIZES), rate_limit="1000000", max_waits="0", max_subscriptions="0"
    )
    try:
        idle_rate = await _idle_command_rate(fleet, min(plan.duration_s, 3.0))
        steps = [await _step(fleet, size, plan, idle_rate) for size in SIZES]
    finally:
        await asyncio.to_thread(fleet.close)
    one, two = steps[0]["calls_per_s"], steps[1]["calls_per_s"]
    report.sections["fleet"] = {
        "plan": plan.__dict__,
        "cpu_count": psutil.cpu_count(),
        "idle_redis_commands_per_s": round(idle_rate, 1),
        "steps": steps,
        "scale_up_2_vs_1": round(two / one, 2) if one else None,
        "scale_up_3_vs_1": round(steps[2]["calls_per_s"] / one, 2) if one else None,
    }
    report.add_targets(
        Target(
            "fleet: calls/s with 2 instances vs 1 (nginx + Redis)",
            SCALE_UP_TARGET,
            two / one if one else None,
            "×",
            at_least=True,
            note="where the cores cap it: CPU per call and busy cores above, docs/performance.md",
        )
    )


def table(report: Report) -> str:
    section = report.sections.get("fleet")
    if not isinstance(section, dict):
        return f"fleet: {section}" if section else ""
    lines = [
        "fleet (nginx + Redis): instances, calls/s, p50/p95 ms, Redis commands per call, cores used by the "
        "fleet and the load generator / busy on the whole machine, CPU ms per call (all processes)"
    ]
    for step in section["steps"]:
        lines.append(
            f"  {step['instances']} instance(s): {step['calls_per_s']} calls/s, p50 {step['p50_ms']} ms, "
            f"p95 {step['p95_ms']} ms, {step['redis_commands_per_call']} Redis cmd/call, "
            f"{step['cores_used_total']} / {step['machine_cores_busy']} cores, "
            f"{step['cpu_ms_per_call']} CPU ms/call"
        )
    return "\n".join(lines)
