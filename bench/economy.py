"""Section "economy": upstream requests per tool call at organization sizes 10 / 1,000 / 10,000.

Each size gets a fresh sandbox process (`bench.sandbox_proc --awake 1 --sleeping N-1`): the replica under
test is the oldest (a list scan would read every page to find it), active and idle. The server runs in
this process (`mcp.Client(build_server(...))`, as in-memory overhead rows); requests are counted from the
sandbox's own stats (`/_sandbox/stats`, reset before each call).

- "seen replica": after one warm-up call (a lookup of an id that does not exist: the server learns the
  organization once), `get_replica` of the oldest replica is taken at "first sight" (the first detail view
  of it: each chat's history tail is read once), then each tool is called for it, "seen, no stream" (`cold`:
  no live upstream stream of it; its chats unchanged since it was last looked at) and "seen, stream open"
  (`warm`: a `subscriptions/listen` subscriber of the replica holds its shared upstream stream open).
- "delegation round": `delegate_task(new name, wait_s=40)` → `get_replica_result` (plus `wait_for_replica`
  with the cursor while not done); and `delegate_task` again with the same name and task (reuse).
Counts are deterministic: each is taken `samples` times and the largest is reported.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx2
from mcp import Client

from bench.procs import child, child_env
from bench.results import Report, Target
from bench.sessions import checked
from bench.world import World
from replicas_mcp.config import Settings
from replicas_mcp.server import build_server

READ_TOOLS = ("get_replica", "read_replica_history", "get_replica_result", "wait_for_replica")
READ_BUDGET = 2  # requests per call for get_replica, history and wait, for a replica the server has seen
ROUND_BUDGET = 8


@dataclass(frozen=True)
class EconomyPlan:
    sizes: tuple[int, ...]
    samples: int


FULL = EconomyPlan(sizes=(10, 1_000, 10_000), samples=3)
SHORT = EconomyPlan(sizes=(10, 300), samples=1)


@dataclass
class Org:
    base_url: str
    key: str
    oldest: str
    stats: httpx2.AsyncClient

    async def counted(self, call: Callable[[], Awaitable[Any]]) -> tuple[int, dict[str, int]]:
        """Upstream requests `call` made (and their routes)."""
        (await self.stats.delete("/_sandbox/stats")).raise_for_status()
        await call()
        routes: dict[str, int] = (await self.stats.get("/_sandbox/stats")).json()["requests"]
        return sum(routes.values()), routes


@asynccontextmanager
async def organization(size: int) -> AsyncIterator[Org]:
    argv = [sys.executable, "-m", "bench.sandbox_proc", "--awake", "1", "--sleeping", str(size - 1)]
    async with child(argv, child_env(), f"sandbox-{size}") as sandbox:
        base_url = str(sandbox.ready["base_url"])
        async with httpx2.AsyncClient(base_url=base_url, timeout=30.0) as stats:
            yield Org(base_url, str(sandbox.ready["key"]), str(sandbox.ready["awake"][0]), stats)


def _server(org: Org) -> Client:
    return Client(build_server(Settings(api_key=org.key, base_url=org.base_url)))


async def _environment(client: Client) -> str:
    listed = checked(await client.call_tool("list_environments", {})).structured_content or {}
    environments = listed.get("environments", [])
    bound = [env["id"] for env in environments if env.get("repository_id")]
    return str(bound[0]) if bound else "global"


def _row(result: Any) -> dict[str, Any]:
    content = checked(result).structured_content or {}
    rows = content.get("replicas")
    return dict(rows[0]) if rows else dict(content)


async def _reads(org: Org, samples: int) -> dict[str, dict[str, int]]:
    """Requests per call of each read tool for the oldest replica, cold and warm."""
    calls = {
        "get_replica": {},
        "read_replica_history": {},
        "get_replica_result": {},
        "wait_for_replica": {"timeout_s": 5},
    }
    counts: dict[str, dict[str, int]] = {"first": {}, "cold": {}, "warm": {}}
    args = {"replica_id": org.oldest}
    async with _server(org) as client:
        await client.call_tool("get_replica", {"replica_id": "no-such-replica"})  # learns the organization
        counts["first"]["get_replica"], _ = await org.counted(lambda: client.call_tool("get_replica", args))
        for mode in ("cold", "warm"):
            async with AsyncExitStack() as stack:
                if mode == "warm":  # a subscriber holds the replica's shared upstream stream open
                    uri = f"replicas://replicas/{org.oldest}"
                    await stack.enter_async_context(client.listen(resource_subscriptions=[uri]))
                    await asyncio.sleep(0.5)
                for name, extra in calls.items():
                    worst = 0
                    for _ in range(samples):
                        n, _ = await org.counted(lambda: client.call_tool(name, {**args, **extra}))  # noqa: B023
                        worst = max(worst, n)
                    counts[mode][name] = worst
    return counts


async def _round(org: Org, sample: int) -> dict[str, Any]:
    async with _server(org) as client:
        env = await _environment(client)
        checked(await client.call_tool("get_replica", {"replica_id": org.oldest}))  # learns the organization
        name = f"economy-round-{sample}"
        task = {
            "environment_id": env,
            "task": f"Add a health endpoint ({sample})",
            "name": name,
            "wait_s": 40,
        }

        async def round_trip() -> None:
            row = _row(await client.call_tool("delegate_task", task))
            while not row.get("done") and row.get("cursor"):
                args = {"replica_id": row["replica_id"], "cursor": row["cursor"], "timeout_s": 40}
                row = _row(await client.call_tool("wait_for_replica", args))
            checked(await client.call_tool("get_replica_result", {"replica_id": row["replica_id"]}))

        total, routes = await org.counted(round_trip)
        again, _ = await org.counted(lambda: client.call_tool("delegate_task", task))
        return {"round": total, "round_routes": routes, "delegate_again": again}


async def measure(world: World, plan: EconomyPlan, report: Report) -> None:
    del world  # each size has its own sandbox
    rows: dict[str, Any] = {}
    for size in plan.sizes:
        async with organization(size) as org:
            reads = await _reads(org, plan.samples)
            rounds = [await _round(org, sample) for sample in range(plan.samples)]
        worst = max(rounds, key=lambda r: int(r["round"]))
        rows[str(size)] = {
            **reads,
            "delegation_round": worst["round"],
            "delegation_round_routes": worst["round_routes"],
            "delegate_task_existing": max(int(r["delegate_again"]) for r in rounds),
        }
    report.sections["economy"] = {"plan": plan.__dict__, "sizes": rows}
    largest = rows[str(plan.sizes[-1])]
    constant = all(rows[str(s)]["cold"] == largest["cold"] for s in plan.sizes)
    report.add_targets(
        *(
            Target(
                f"{tool} requests, seen replica, N={plan.sizes[-1]:,} (cold)",
                READ_BUDGET,
                largest["cold"][tool],
                "",
            )
            for tool in ("get_replica", "read_replica_history", "wait_for_replica")
        ),
        Target(
            f"delegation round requests, N={plan.sizes[-1]:,}", ROUND_BUDGET, largest["delegation_round"], ""
        ),
        Target(
            f"requests per call equal from N={plan.sizes[0]} to N={plan.sizes[-1]:,}",
            1,
            1.0 if constant else 0.0,
            "",
            at_least=True,
            note="counts differ between sizes: see bench/results.json sections.economy",
        ),
    )


def table(report: Report) -> str:
    section = report.sections.get("economy")
    if not section:
        return ""
    sizes = list(section["sizes"])
    header = "upstream requests per call (oldest replica)".ljust(46) + "".join(
        f"{'N=' + s:>9}" for s in sizes
    )
    lines = [header]
    modes = {"first": "first sight", "cold": "seen, no stream", "warm": "seen, stream open"}
    for mode, shown in modes.items():
        for tool in READ_TOOLS:
            if tool not in section["sizes"][sizes[0]].get(mode, {}):
                continue
            label = f"  {tool} ({shown})".ljust(46)
            lines.append(label + "".join(f"{section['sizes'][s][mode][tool]:>9}" for s in sizes))
    for key, label in (
        ("delegate_task_existing", "  delegate_task, existing name"),
        ("delegation_round", "  delegation round (delegate → result)"),
    ):
        lines.append(label.ljust(46) + "".join(f"{section['sizes'][s][key]:>9}" for s in sizes))
    return "\n".join(lines)
