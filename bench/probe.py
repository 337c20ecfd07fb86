"""`python -m bench.probe URL REPLICA_ID`: a get_replica latency probe in its own process and MCP session.

Prints `{}` when its session is ready, then for each line read on stdin (a number of seconds) probes for
that long (one call every PROBE_EVERY seconds) and prints `{"latencies": [...], "failures": n}`. Being its
own process, what it measures is the server's answer time, not the load generator's event loop.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

from bench.live import probe_loop, session


async def main(url: str, replica_id: str) -> None:
    async with session(url) as client:
        print(json.dumps({}), flush=True)
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while line := await reader.readline():
            started = time.perf_counter()
            latencies, failures = await probe_loop(client, replica_id, float(line))
            took = round(time.perf_counter() - started, 2)
            print(json.dumps({"latencies": latencies, "failures": failures, "took_s": took}), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
