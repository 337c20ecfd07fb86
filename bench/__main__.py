"""`python -m bench [--short] [--only SECTION ...]`: run the benchmarks, print the tables and the target
table, write bench/results.json. Exit 0 whether targets are met or not (misses are reported); exit 1 only
when a section fails with an error.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
import traceback
from collections.abc import Awaitable, Callable

from bench import coldstart, context, economy, fleet, live, memory, overhead, sizes, throughput
from bench.results import Report
from bench.world import World, running_world

SECTIONS = (
    "overhead",
    "cold_start",
    "context",
    "result_size",
    "throughput",
    "memory",
    "economy",
    "live",
    "fleet",
)
SECTION_TIMEOUT = 600.0


def _runners(short: bool) -> dict[str, Callable[[World, Report], Awaitable[None]]]:
    return {
        "overhead": lambda w, r: overhead.measure(w, overhead.SHORT if short else overhead.FULL, r),
        "cold_start": lambda w, r: coldstart.measure(w, coldstart.SHORT if short else coldstart.FULL, r),
        "context": context.measure,
        "result_size": sizes.measure,
        "throughput": lambda w, r: throughput.measure(w, throughput.SHORT if short else throughput.FULL, r),
        "memory": lambda w, r: memory.measure(w, memory.SHORT if short else memory.FULL, r),
        "economy": lambda w, r: economy.measure(w, economy.SHORT if short else economy.FULL, r),
        "live": lambda w, r: live.measure(w, live.SHORT if short else live.FULL, r),
        "fleet": lambda w, r: fleet.measure(w, fleet.SHORT if short else fleet.FULL, r),
    }


TABLES = (
    overhead.table,
    coldstart.table,
    context.table,
    sizes.table,
    throughput.table,
    memory.table,
    economy.table,
    live.table,
    fleet.table,
)


async def run(short: bool, only: list[str]) -> Report:
    report = Report(mode="short" if short else "full")
    runners = _runners(short)
    async with running_world() as world:
        for name in only or SECTIONS:
            started = time.perf_counter()
            print(f"== {name} ...", file=sys.stderr, flush=True)
            try:
                async with asyncio.timeout(SECTION_TIMEOUT):
                    await runners[name](world, report)
            except Exception as exc:
                report.errors.append(f"{name}: {type(exc).__name__}: {exc}")
                traceback.print_exc()
            print(f"   {name} took {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--short", action="store_true", help="tiny iteration counts: checks the bench runs")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=[], help="run only these sections")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    started = time.perf_counter()
    report = asyncio.run(run(args.short, args.only))
    for render in TABLES:
        text = render(report)
        if text:
            print(text + "\n")
    print(report.table())
    path = report.write()
    print(f"\n{report.mode} run in {time.perf_counter() - started:.0f} s; results in {path}")
    if report.errors:
        print("errors:\n  " + "\n  ".join(report.errors), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
