"""`python -m bench.sandbox_proc`: a fresh sandbox in its own process, so every benchmark row pays the
same sandbox cost and the sandbox never shares the measuring process's event loop.

Prints `{"base_url": ..., "key": ...}` when ready; stops when stdin closes (or after MAX_LIFETIME).
Served by `bench.loopback` (TCP_NODELAY; see there). Time is scaled down (turns take milliseconds)
and replicas never fall asleep during a run.
"""

from __future__ import annotations

import asyncio
import json
import logging

from bench.loopback import serve
from bench.procs import wait_for_stdin_eof
from replicas_mcp.sandbox.app import create_app, world_of
from replicas_mcp.sandbox.world import DEFAULT_ORG_NAME

TIME_SCALE = 0.01
MAX_LIFETIME = 1800.0


async def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    app = create_app(seed=0, time_scale=TIME_SCALE, idle_sleep_after=1e9)
    world = world_of(app)
    async with serve(app) as base_url:
        try:
            print(
                json.dumps({"base_url": base_url, "key": world.key_for(DEFAULT_ORG_NAME, "org")}), flush=True
            )
            await wait_for_stdin_eof(MAX_LIFETIME)
        finally:
            world.close_streams()


if __name__ == "__main__":
    asyncio.run(main())
