"""Section 6: memory: RSS of the stdio server idle, and after load.

Idle: a fresh `replicas-mcp` (the process a desktop client keeps running, pointed at the API; here the
sandbox process) after the handshake and `tools/list`, left alone for a moment. Loaded: the same process
after a burst of get_replica / list_replicas / read_replica_history calls. `replicas-mcp --sandbox`
(which also holds the embedded sandbox) is reported beside it. Under HTTP load, see the throughput section.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from bench.procs import child_env, cli_available, server_command, stdio_server_argv
from bench.rawstdio import RawStdio, initialized
from bench.results import Report, Target
from bench.sampling import rss_mb
from bench.world import World

IDLE_RSS_LIMIT_MB = 85.0
SETTLE_S = 1.0


@dataclass(frozen=True)
class MemoryPlan:
    calls: int


FULL = MemoryPlan(calls=300)
SHORT = MemoryPlan(calls=10)


async def _idle_rss_mb(session: RawStdio) -> float:
    """RSS of an initialized server after `tools/list`, left alone for a moment."""
    await session.request("tools/list")
    await asyncio.sleep(SETTLE_S)
    return rss_mb(session.pid)


async def _idle_and_loaded(argv: list[str], env: dict[str, str], world: World, calls: int) -> dict[str, Any]:
    async with initialized(argv, env) as session:
        idle = await _idle_rss_mb(session)
        for index in range(calls):
            replica_id = world.replica_ids[index % len(world.replica_ids)]
            await session.call_tool("get_replica", {"replica_id": replica_id})
            if index % 10 == 0:
                await session.call_tool("list_replicas", {})
                await session.call_tool("read_replica_history", {"replica_id": world.history_replica})
        loaded = rss_mb(session.pid)
        return {"idle_rss_mb": round(idle, 1), "after_load_rss_mb": round(loaded, 1), "calls": calls}


async def measure(world: World, plan: MemoryPlan, report: Report) -> None:
    stdio = await _idle_and_loaded(stdio_server_argv(), world.server_env(), world, plan.calls)
    section: dict[str, Any] = {"replicas_mcp_stdio": stdio}
    if cli_available():
        async with initialized(server_command("--sandbox"), child_env()) as session:
            section["replicas_mcp_sandbox_idle_rss_mb"] = round(await _idle_rss_mb(session), 1)
    report.sections["memory"] = section
    report.add_targets(
        Target("idle RSS, replicas-mcp (stdio)", IDLE_RSS_LIMIT_MB, stdio["idle_rss_mb"], " MB")
    )


def table(report: Report) -> str:
    section = report.sections.get("memory")
    if not section:
        return ""
    stdio = section["replicas_mcp_stdio"]
    line = (
        f"RSS replicas-mcp (stdio): idle {stdio['idle_rss_mb']} MB, after {stdio['calls']} get_replica calls "
        f"{stdio['after_load_rss_mb']} MB"
    )
    if "replicas_mcp_sandbox_idle_rss_mb" in section:
        line += f"; replicas-mcp --sandbox idle {section['replicas_mcp_sandbox_idle_rss_mb']} MB"
    return line
