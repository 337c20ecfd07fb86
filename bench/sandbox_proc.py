"""`python -m bench.sandbox_proc [--sleeping N] [--awake M]`: a fresh sandbox in its own process, so every
benchmark row pays the same sandbox cost and the sandbox never shares the measuring process's event loop.

Prints `{"base_url": ..., "key": ..., "sleeping": [...ids], "awake": [...ids]}` when ready; stops when stdin
closes (or after MAX_LIFETIME). Served by `replicas_mcp.sandbox.serve.running_sandbox` (TCP_NODELAY on every
connection). Time is scaled down (turns take milliseconds), replicas never fall asleep during a run, and the
sandbox is strict (the vendor contract's fields only): the bench must not measure work the product could
not do upstream. `--sleeping N` adds N sleeping replicas and `--awake M` M active, idle ones (created in
process, as the organization sizes of the economy bench need: 10,000 creates over HTTP would take minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging

from bench.procs import wait_for_stdin_eof
from replicas_mcp.sandbox.serve import RunningSandbox, running_sandbox

TIME_SCALE = 0.01
MAX_LIFETIME = 1800.0


def populate(sandbox: RunningSandbox, *, sleeping: int, awake: int) -> tuple[list[str], list[str]]:
    """Sleeping and awake (idle) replicas, created directly in the sandbox's world."""
    workspaces = sandbox.world.org().workspaces
    made: dict[str, list[str]] = {"sleeping": [], "active": []}
    for status, count in (("sleeping", sleeping), ("active", awake)):
        for index in range(count):
            replica = workspaces.create(name=f"org-{status}-{index}", message="Idle", environment_id="global")
            workspaces.force_status(replica, "sleeping")
            if status == "active":
                workspaces.force_status(replica, "active")
            made[status].append(replica.id)
    return made["sleeping"], made["active"]


async def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sandbox_proc")
    parser.add_argument("--sleeping", type=int, default=0)
    parser.add_argument("--awake", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    async with running_sandbox(seed=0, time_scale=TIME_SCALE, idle_sleep_after=1e9, strict=True) as sandbox:
        sleeping, awake = populate(sandbox, sleeping=args.sleeping, awake=args.awake)
        ready = {"base_url": sandbox.base_url, "key": sandbox.org_key, "sleeping": sleeping, "awake": awake}
        print(json.dumps(ready), flush=True)
        await wait_for_stdin_eof(MAX_LIFETIME)


if __name__ == "__main__":
    asyncio.run(main())
