"""Section 2: cold start, spawn to the initialize result over stdio, beside the SDK import floor.

Each sample spawns a fresh process with plain pipes (no MCP client library in the way), writes an
`initialize` request and stops the clock at the first line of stdout (the result). The floor is
`python -c "import mcp.server"`, spawn to exit. Samples alternate between the commands, after one
warm-up each (disk cache); medians are reported. `-X importtime` then names the imports the server adds
on top of the floor, the usual cause of a slow start: taken from a server process run to its initialize
result (the CLI defers its imports, so timing `import replicas_mcp.cli` would show almost nothing).
"""

from __future__ import annotations

import asyncio
import re
import sys
import time
from dataclasses import dataclass

from bench.procs import child_env, cli_available, server_command
from bench.rawstdio import RawStdio, initialized
from bench.results import Report, Target
from bench.stats import median, ms
from bench.world import World

START_TIMEOUT = 30.0
COLD_START_BUDGET = 0.250


@dataclass(frozen=True)
class ColdPlan:
    samples: int


FULL = ColdPlan(samples=10)
SHORT = ColdPlan(samples=1)


async def time_initialize(argv: list[str], env: dict[str, str]) -> float:
    """Seconds from spawn to the initialize result (raw pipes)."""
    async with initialized(argv, env) as session:
        return session.initialize_seconds


async def time_exit(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    process = await asyncio.create_subprocess_exec(*argv, env=env)
    code = await asyncio.wait_for(process.wait(), START_TIMEOUT)
    if code != 0:
        raise RuntimeError(f"{argv} exited with {code}")
    return time.perf_counter() - start


_IMPORT_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)")


def _self_times(stderr: str) -> dict[str, float]:
    """Import self-time seconds per top-level package, from `-X importtime` output."""
    totals: dict[str, float] = {}
    for line in stderr.splitlines():
        match = _IMPORT_LINE.match(line)
        if match:
            package = match.group(4).split(".")[0]
            totals[package] = totals.get(package, 0.0) + int(match.group(1)) / 1e6
    return totals


async def import_times(statement: str) -> dict[str, float]:
    """Import self-time per top-level package for `python -c statement`."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-X",
        "importtime",
        "-c",
        statement,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env=child_env(),
    )
    _, err = await asyncio.wait_for(process.communicate(), START_TIMEOUT)
    return _self_times(err.decode(errors="replace"))


async def served_import_times(args: list[str], env: dict[str, str]) -> dict[str, float]:
    """Import self-time per top-level package of the server itself, from spawn to its initialize result
    (`python -X importtime -m replicas_mcp ARGS` over raw stdio). Importing `replicas_mcp.cli` alone would
    miss nearly everything: the CLI defers its imports until it serves."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-X",
        "importtime",
        "-m",
        "replicas_mcp",
        *args,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        limit=16 * 1024 * 1024,
    )
    assert process.stderr is not None
    errors = asyncio.ensure_future(process.stderr.read())  # drained all along: the output is large
    session = RawStdio(process, time.perf_counter())
    try:
        await asyncio.wait_for(session.initialize(), START_TIMEOUT)
    finally:
        await session.close()
    return _self_times((await errors).decode(errors="replace"))


async def measure(world: World, plan: ColdPlan, report: Report) -> None:
    floor_argv = [sys.executable, "-c", "import mcp.server"]
    if cli_available():
        sandbox_argv = server_command("--sandbox")
        sandbox_env = child_env()
        label = "replicas-mcp --sandbox"
    else:
        sandbox_argv = [sys.executable, "-m", "bench.mcp_http", "--stdio"]
        sandbox_env = world.server_env()
        label = "bench.mcp_http --stdio (replicas_mcp.cli missing)"
    plain_argv = server_command() if cli_available() else sandbox_argv
    floor: list[float] = []
    sandboxed: list[float] = []
    plain: list[float] = []
    await time_exit(floor_argv, child_env())
    await time_initialize(sandbox_argv, sandbox_env)
    for _ in range(plan.samples):
        floor.append(await time_exit(floor_argv, child_env()))
        sandboxed.append(await time_initialize(sandbox_argv, sandbox_env))
        plain.append(await time_initialize(plain_argv, world.server_env()))
    floor_s, sandbox_s, plain_s = median(floor), median(sandboxed), median(plain)
    if cli_available():
        server_imports = await served_import_times([], world.server_env())
    else:
        server_imports = await import_times("import bench.mcp_http")
    floor_imports = await import_times("import mcp.server")
    added = {
        name: round(seconds * 1000, 1)
        for name, seconds in sorted(server_imports.items(), key=lambda kv: -kv[1])
        if seconds - floor_imports.get(name, 0.0) > 0.002
    }
    report.sections["cold_start"] = {
        "command": label,
        "samples": plan.samples,
        "floor_import_mcp_server_ms": ms(floor_s),
        "server_sandbox_initialize_ms": ms(sandbox_s),
        "server_plain_initialize_ms": ms(plain_s),
        "difference_ms": ms(sandbox_s - floor_s),
        "plain_difference_ms": ms(plain_s - floor_s),
        "import_self_ms_beyond_floor_by_package": dict(list(added.items())[:15]),
    }
    report.add_targets(
        Target(
            f"cold start {label} − import floor",
            COLD_START_BUDGET * 1000,
            (sandbox_s - floor_s) * 1000,
            " ms",
        )
    )


def table(report: Report) -> str:
    section = report.sections.get("cold_start")
    if not section:
        return ""
    return (
        f"cold start (median of {section['samples']}): python -c 'import mcp.server' "
        f"{section['floor_import_mcp_server_ms']:.0f} ms; {section['command']} → initialize "
        f"{section['server_sandbox_initialize_ms']:.0f} ms (+{section['difference_ms']:.0f} ms); "
        f"replicas-mcp (remote API) {section['server_plain_initialize_ms']:.0f} ms "
        f"(+{section['plain_difference_ms']:.0f} ms)\n"
        f"  import self-time beyond the floor (ms): {section['import_self_ms_beyond_floor_by_package']}"
    )
