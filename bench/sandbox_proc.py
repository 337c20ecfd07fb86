"""`python -m bench.sandbox_proc`: a fresh sandbox in its own process, so every benchmark row pays the
same sandbox cost and the sandbox never shares the measuring process's event loop.

Prints `{"base_url": ..., "key": ...}` when ready; stops when stdin closes (or after MAX_LIFETIME).
Served by `replicas_mcp.sandbox.serve.running_sandbox` (TCP_NODELAY on every connection). Time is scaled
down (turns take milliseconds), replicas never fall asleep during a run, and the sandbox is strict (the
vendor contract's fields only), as the product must not measure work it could not do upstream.
"""

from __future__ import annotations

import asyncio
import json
import logging

from bench.procs import wait_for_stdin_eof
from replicas_mcp.sandbox.serve import running_sandbox

TIME_SCALE = 0.01
MAX_LIFETIME = 1800.0


async def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    async with running_sandbox(seed=0, time_scale=TIME_SCALE, idle_sleep_after=1e9, strict=True) as sandbox:
        print(json.dumps({"base_url": sandbox.base_url, "key": sandbox.org_key}), flush=True)
        await wait_for_stdin_eof(MAX_LIFETIME)


if __name__ == "__main__":
    asyncio.run(main())
