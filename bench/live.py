"""Section "live": shared streams under load, sleeping replicas watched in bulk, event latency, RSS.

The server runs over Streamable HTTP in its own process (`bench.mcp_http`), every MCP session is its own
HTTP client; the sandbox is its own process too (`bench.sandbox_proc`), with replicas created in process.

- idle: `sleepers` sleeping replicas subscribed (`subscriptions/listen`); over `idle_s` the upstream
  requests/s (sandbox stats) and the server's CPU; then one is woken (sandbox control endpoint) and the
  time until its `resources/updated` arrives is compared with the poll interval.
- latency (`bench/live_latency.py`): the product's own HTTP server (`replicas-mcp --transport http`), a
  raw SSE reader, a listen subscriber and a waiter, each in its own process: event → wait result and event
  → notification, against the raw reader, on the same events in the same run.
- load: `subscriptions` listen subscriptions (one per replica) and `waits` concurrent `wait_for_replica`
  (`until=needs_input`, which never holds here) on the awake replicas, while another session (its own
  process, `bench.probe`) calls `get_replica` every 100 ms: first while the server admits the waits (all
  sent at once), then while they are all held; the held p95 against the idle p95 is the target, and
  whether any call failed or timed out.
  RSS per subscription is the server's RSS growth from the subscriptions, per subscription.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import psutil
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from bench import live_latency
from bench.procs import child, child_env, server_command
from bench.results import Report, Target
from bench.sampling import rss_mb, sampling
from bench.sessions import checked
from bench.stats import median, ms, percentile
from bench.world import World

PROBE_EVERY = 0.1
PROBE_SLACK_MS = 50.0
LATENCY_SLACK_MS = 5.0
PRODUCT_READY_TIMEOUT = 30.0
RSS_PER_SUBSCRIPTION_KB = 60.0
IDLE_REQUESTS_PER_S = 1.0
IDLE_CPU_PCT = 2.0


@dataclass(frozen=True)
class LivePlan:
    sleepers: int
    poll_interval: float
    idle_s: float
    latency_samples: int
    awake: int
    subscriptions: int
    waits: int
    sessions: int
    settle_s: float  # pauses for the server to settle (watches looked up, streams open)
    admit_s: float  # probed while the waits are being admitted (reported, not the target)
    load_s: float  # then probed while they are all held (the target)


FULL = LivePlan(
    sleepers=200,
    poll_interval=10.0,
    idle_s=30.0,
    latency_samples=30,
    awake=300,
    subscriptions=1000,
    waits=1000,
    sessions=20,
    settle_s=3.0,
    admit_s=15.0,
    load_s=20.0,
)
SHORT = LivePlan(
    sleepers=20,
    poll_interval=0.5,
    idle_s=1.0,
    latency_samples=3,
    awake=5,
    subscriptions=20,
    waits=20,
    sessions=2,
    settle_s=0.5,
    admit_s=1.0,
    load_s=1.0,
)


@dataclass
class Setup:
    base_url: str
    key: str
    awake: list[str]
    sleeping: list[str]
    url: str  # the MCP endpoint
    server_pid: int
    control: httpx2.AsyncClient  # the sandbox's API and control endpoints, with the key

    async def requests(self) -> int:
        return sum((await self.control.get("/_sandbox/stats")).json()["requests"].values())

    async def reset_stats(self) -> None:
        (await self.control.delete("/_sandbox/stats")).raise_for_status()


@asynccontextmanager
async def product_server(env: dict[str, str]) -> AsyncIterator[tuple[str, int]]:
    """`replicas-mcp --transport http --port 0` as a user runs it (its listener, middleware and uvicorn
    settings): its URL, from the line it prints on stderr, and pid; terminated on exit."""
    log = Path(tempfile.gettempdir()) / f"replicas-bench-live-product-{os.getpid()}.log"
    with log.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            *server_command("--transport", "http", "--host", "127.0.0.1", "--port", "0"),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=stderr,
            env=env,
        )
        try:
            deadline = time.perf_counter() + PRODUCT_READY_TIMEOUT
            while not (found := re.search(r"Streamable HTTP on (http://\S+/mcp)", log.read_text())):
                if process.returncode is not None or time.perf_counter() > deadline:
                    raise RuntimeError(
                        f"replicas-mcp --transport http did not start: {log.read_text()[-2000:]}"
                    )
                await asyncio.sleep(0.05)
            yield found.group(1), process.pid
        finally:
            if process.returncode is None:
                process.terminate()
                try:
                    await asyncio.wait_for(process.wait(), 10)
                except TimeoutError:
                    process.kill()
                    await process.wait()


@asynccontextmanager
async def setup(
    *, awake: int, sleeping: int, poll_interval: float, product: bool = False
) -> AsyncIterator[Setup]:
    """A sandbox and a server against it: `bench.mcp_http` (the server `build_server` makes, on the bench's
    own socket), or with `product` the `replicas-mcp` CLI's own HTTP server."""
    sandbox_argv = [
        sys.executable,
        "-m",
        "bench.sandbox_proc",
        "--awake",
        str(awake),
        "--sleeping",
        str(sleeping),
    ]
    async with child(sandbox_argv, child_env(), "live-sandbox") as sandbox:
        base_url, key = str(sandbox.ready["base_url"]), str(sandbox.ready["key"])
        env = child_env(
            {
                "REPLICAS_BASE_URL": base_url,
                "REPLICAS_API_KEY": key,
                "REPLICAS_MCP_WATCH_POLL_INTERVAL": str(poll_interval),
                # One caller stands in for many here: its 1,000 waits and subscriptions must not meet the
                # per-caller caps.
                "REPLICAS_MCP_MAX_WAITS": "0",
                "REPLICAS_MCP_MAX_SUBSCRIPTIONS": "0",
            }
        )
        headers = {"Authorization": f"Bearer {key}"}
        async with AsyncExitStack() as stack:
            if product:
                url, pid = await stack.enter_async_context(product_server(env))
            else:
                server = await stack.enter_async_context(
                    child([sys.executable, "-m", "bench.mcp_http"], env, "live-server")
                )
                url, pid = str(server.ready["url"]), server.pid
            control = await stack.enter_async_context(
                httpx2.AsyncClient(base_url=base_url, headers=headers, timeout=30.0)
            )
            awake_ids, sleeping_ids = list(sandbox.ready["awake"]), list(sandbox.ready["sleeping"])
            yield Setup(base_url, key, awake_ids, sleeping_ids, url, pid, control)


@asynccontextmanager
async def session(url: str) -> AsyncIterator[Client]:
    """One MCP session with its own HTTP client (room for many concurrent calls)."""
    limits = httpx2.Limits(max_connections=500, max_keepalive_connections=100)
    timeout = httpx2.Timeout(60.0, read=300.0)
    async with (
        httpx2.AsyncClient(limits=limits, timeout=timeout) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        yield client


def _uri(replica_id: str) -> str:
    return f"replicas://replicas/{replica_id}"


# --- idle: sleeping replicas watched in bulk ---------------------------------------------------------------


async def _idle(plan: LivePlan) -> dict[str, Any]:
    async with (
        setup(awake=0, sleeping=plan.sleepers, poll_interval=plan.poll_interval) as s,
        session(s.url) as c,
    ):
        arrived: dict[str, float] = {}
        async with c.listen(resource_subscriptions=[_uri(r) for r in s.sleeping]) as updates:

            async def collect() -> None:
                async for event in updates:
                    arrived.setdefault(str(getattr(event, "uri", "")), time.perf_counter())

            async with asyncio.TaskGroup() as tasks:
                collector = tasks.create_task(collect())
                await asyncio.sleep(max(plan.settle_s, min(plan.poll_interval * 2, 5.0)))  # all looked once
                await s.reset_stats()
                async with sampling(s.server_pid, interval=0.5) as cpu:
                    await asyncio.sleep(plan.idle_s)
                requests = await s.requests()
                woken = s.sleeping[len(s.sleeping) // 2]
                arrived.clear()
                started = time.perf_counter()
                (
                    await s.control.post(f"/_sandbox/replicas/{woken}/status", json={"status": "active"})
                ).raise_for_status()
                deadline = started + plan.poll_interval * 2 + 5
                while _uri(woken) not in arrived and time.perf_counter() < deadline:
                    await asyncio.sleep(0.01)
                collector.cancel()
        noticed = arrived.get(_uri(woken))
        return {
            "watched_sleeping": plan.sleepers,
            "poll_interval_s": plan.poll_interval,
            "window_s": plan.idle_s,
            "upstream_requests": requests,
            "upstream_requests_per_s": round(requests / plan.idle_s, 3),
            "server_cpu_pct": cpu.summary()["cpu_mean_pct"],
            "wake_notified_s": None if noticed is None else round(noticed - started, 3),
        }


# --- latency: event → wait return and → notification, against a raw SSE reader ---------------------------


async def _latency(plan: LivePlan) -> dict[str, Any]:
    async with setup(awake=1, sleeping=0, poll_interval=plan.poll_interval, product=True) as s:
        return await live_latency.measure(
            s.url,
            s.base_url,
            s.key,
            s.awake[0],
            s.control,
            samples=plan.latency_samples,
            settle_s=plan.settle_s,
        )


# --- load: many waits and subscriptions, a get_replica probe from another session ---------------------------


async def probe_loop(client: Client, replica_id: str, seconds: float) -> tuple[list[float], int]:
    """get_replica every PROBE_EVERY seconds for `seconds`: latencies, and calls that failed or timed out."""
    latencies: list[float] = []
    failures = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        try:
            async with asyncio.timeout(10):
                checked(await client.call_tool("get_replica", {"replica_id": replica_id}))
            latencies.append(time.perf_counter() - start)
        except (TimeoutError, RuntimeError):
            failures += 1
        await asyncio.sleep(max(0.0, PROBE_EVERY - (time.perf_counter() - start)))
    return latencies, failures


class Probe:
    """`bench.probe` in its own process: one MCP session, probing when asked."""

    def __init__(self, process: Any) -> None:
        self._process = process

    async def run(self, seconds: float) -> tuple[list[float], int]:
        stdin, stdout = self._process.stdin, self._process.stdout
        stdin.write(f"{seconds}\n".encode())
        await stdin.drain()
        answer = json.loads(await asyncio.wait_for(stdout.readline(), seconds + 60))
        return [float(x) for x in answer["latencies"]], int(answer["failures"])


async def _load(plan: LivePlan) -> dict[str, Any]:
    sleeping = max(0, plan.subscriptions - plan.awake)
    async with setup(awake=plan.awake, sleeping=sleeping, poll_interval=2.0) as s, AsyncExitStack() as stack:
        target = s.awake[0]
        prober = await stack.enter_async_context(
            child([sys.executable, "-m", "bench.probe", s.url, target], child_env(), "live-probe")
        )
        probe = Probe(prober.process)
        idle, _ = await probe.run(2 * plan.settle_s)
        sessions = [await stack.enter_async_context(session(s.url)) for _ in range(plan.sessions)]
        rss_before = rss_mb(s.server_pid)
        replicas = s.awake + s.sleeping
        per_session = -(-plan.subscriptions // plan.sessions)
        for index, client in enumerate(sessions):
            uris = [_uri(r) for r in replicas[index * per_session : (index + 1) * per_session]]
            if uris:
                await stack.enter_async_context(client.listen(resource_subscriptions=uris))
        await asyncio.sleep(plan.settle_s)  # every watch has looked its replica up
        rss_subscribed = rss_mb(s.server_pid)
        wait_s = int(plan.admit_s + plan.load_s + 10)
        failures: list[str] = []
        started = asyncio.Event()
        in_flight = 0

        async def wait(index: int) -> None:
            nonlocal in_flight
            client = sessions[index % len(sessions)]
            args = {"replica_id": s.awake[index % len(s.awake)], "until": "needs_input", "timeout_s": wait_s}
            try:
                async with asyncio.timeout(wait_s + 30):
                    in_flight += 1
                    if in_flight == plan.waits:
                        started.set()
                    checked(await client.call_tool("wait_for_replica", args))
            except Exception as exc:  # counted, not raised: the bench reports them
                failures.append(f"{type(exc).__name__}: {exc}"[:200])

        me = psutil.Process()
        me.cpu_percent(None)
        async with asyncio.TaskGroup() as tasks, sampling(s.server_pid, interval=0.5) as server:
            for index in range(plan.waits):
                tasks.create_task(wait(index))
            await started.wait()
            # While the server admits the calls (each looks its replica up, reads its chats, joins a stream)
            admitting, admit_failures = await probe.run(plan.admit_s)
            loaded, probe_failures = await probe.run(plan.load_s)  # all of them in flight, held
            probe_failures += admit_failures
            generator_cpu = me.cpu_percent(None)
        process = psutil.Process(s.server_pid)
        return {
            "subscriptions": plan.subscriptions,
            "waits": plan.waits,
            "awake_replicas": plan.awake,
            "probe_idle_p95_ms": ms(percentile(idle, 95)),
            "probe_admitting_p50_ms": ms(median(admitting)),
            "probe_admitting_p95_ms": ms(percentile(admitting, 95)),
            "probe_loaded_p50_ms": ms(median(loaded)),
            "probe_loaded_p95_ms": ms(percentile(loaded, 95)),
            "probe_calls": len(loaded),
            "probe_failures": probe_failures,
            "wait_failures": len(failures),
            "wait_failure_examples": failures[:3],
            "server": server.summary(),
            "server_threads": process.num_threads(),
            "load_generator_cpu_pct": round(generator_cpu, 1),
            "rss_per_subscription_kb": round(
                (rss_subscribed - rss_before) * 1024 / max(1, plan.subscriptions), 1
            ),
        }


async def measure(world: World, plan: LivePlan, report: Report) -> None:
    del world  # every part has its own sandbox and server
    idle = await _idle(plan)
    latency = await _latency(plan)
    load = await _load(plan)
    report.sections["live"] = {"plan": plan.__dict__, "idle": idle, "latency": latency, "load": load}
    wake = idle["wake_notified_s"]
    report.add_targets(
        Target(
            f"idle upstream requests/s, {plan.sleepers} watched sleeping (poll {plan.poll_interval:g} s)",
            # Two list reads per interval (the awake sweep and one census page of the sleeping list): 0.2/s at
            # the default 10 s; the short run polls every 0.5 s, so its bound scales with the interval.
            max(IDLE_REQUESTS_PER_S, 2.0 / plan.poll_interval),
            idle["upstream_requests_per_s"],
            "/s",
        ),
        Target(
            f"idle server CPU, {plan.sleepers} watched sleeping", IDLE_CPU_PCT, idle["server_cpu_pct"], "%"
        ),
        Target(
            "wake notified after (poll interval)",
            plan.poll_interval + 1.0,
            wake,
            " s",
            note="no notification arrived" if wake is None else "",
        ),
        Target(
            "event → wait result received, p50 after the raw SSE reader",
            LATENCY_SLACK_MS,
            latency["wait_return_after_raw_ms_p50"],
            " ms",
        ),
        Target(
            f"get_replica p95 under {plan.waits} waits + {plan.subscriptions} subscriptions − idle p95",
            PROBE_SLACK_MS,
            load["probe_loaded_p95_ms"] - load["probe_idle_p95_ms"],
            " ms",
        ),
        Target("calls failed or timed out under load", 0, load["probe_failures"] + load["wait_failures"], ""),
        Target("RSS per subscription", RSS_PER_SUBSCRIPTION_KB, load["rss_per_subscription_kb"], " KB"),
    )


def table(report: Report) -> str:
    section = report.sections.get("live")
    if not section:
        return ""
    idle, latency, load = section["idle"], section["latency"], section["load"]
    srv = load["server"]
    return "\n".join(
        [
            f"idle, {idle['watched_sleeping']} watched sleeping replicas (poll every "
            f"{idle['poll_interval_s']} s): {idle['upstream_requests_per_s']} upstream requests/s, "
            f"server CPU {idle['server_cpu_pct']}%, a wake notified after {idle['wake_notified_s']} s",
            f"event latency after a raw SSE reader ({latency['samples']} samples, {latency['server']}): wait "
            f"result received p50 {latency['wait_return_after_raw_ms_p50']} ms / "
            f"p95 {latency['wait_return_after_raw_ms_p95']} ms (call_tool returned, after the MCP client's "
            f"parse: p50 {latency['wait_returned_after_raw_ms_p50']} / "
            f"p95 {latency['wait_returned_after_raw_ms_p95']} ms); "
            f"notification p50 {latency['notification_after_raw_ms_p50']} ms / "
            f"p95 {latency['notification_after_raw_ms_p95']} ms",
            f"{load['waits']} waits + {load['subscriptions']} subscriptions "
            f"({load['awake_replicas']} awake): get_replica from another session p95 "
            f"{load['probe_idle_p95_ms']} ms idle → {load['probe_loaded_p95_ms']} ms held "
            f"(p50 {load['probe_loaded_p50_ms']} ms; while admitting them "
            f"p50 {load['probe_admitting_p50_ms']} / p95 {load['probe_admitting_p95_ms']} ms); "
            f"{load['probe_failures']} probe and "
            f"{load['wait_failures']} wait failures; server CPU {srv['cpu_mean_pct']}%, "
            f"RSS peak {srv['rss_peak_mb']} MB, {load['rss_per_subscription_kb']} KB per subscription",
        ]
    )
