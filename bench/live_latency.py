"""Event latency (part of section "live"): a replica's event → `wait_for_replica` result, and → the
`resources/updated` notification, each against a raw SSE reader of the same events in the same run.

Who measures what, and how (docs/performance.md states the same):
- Three readers, each in its own process with its own event loop, as separate clients would be: the raw
  SSE reader of the replica's events (`python -m bench.live_latency raw ...`), the listen subscriber
  (`... listen ...`), and the waiter (the bench process, which also posts the messages). Sharing one event
  loop would make each reader's stamp wait while the loop parses another reader's message.
- Every reader stamps the same point: when httpx hands it the bytes (the raw reader's SSE line, the last
  chunk of the wait's HTTP response, the chunk carrying the notification), before anything parses them.
  The time the MCP client then takes to parse and validate the wait's result is reported beside it
  (`wait_returned_*`), not hidden. Stamps are `time.perf_counter()`, CLOCK_MONOTONIC on Linux: one clock
  for every process on the machine.
- The satisfying event is the chat update after `chat.turn.completed` (what the default `until=idle` wait
  decides on); the notification's is `chat.turn.completed`. The raw reader subscribes before the server's
  upstream stream opens, so the sandbox writes each event to it first: that head start counts against the
  server.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from bench.procs import child, child_env
from bench.sessions import checked
from bench.stats import median, ms, percentile

TURN_STARTS = 0.05  # seconds after posting a message before the wait starts (the turn runs for ~0.3 s)
AFTERWARDS = 0.2  # seconds after the wait returned before the next message (the notifications arrive)


class _Stamped(httpx2.AsyncByteStream):
    def __init__(self, inner: Any, stamps: Arrivals) -> None:
        self._inner = inner
        self._stamps = stamps

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            self._stamps.stamp()  # before anything parses it
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


class Arrivals(httpx2.AsyncBaseTransport):
    """A session's transport that stamps when each chunk of a response reaches the process."""

    def __init__(self, inner: httpx2.AsyncBaseTransport) -> None:
        self._inner = inner
        self.times: list[float] = []

    def stamp(self) -> None:
        self.times.append(time.perf_counter())

    @property
    def last(self) -> float:
        return self.times[-1] if self.times else 0.0

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = await self._inner.handle_async_request(request)
        response.stream = _Stamped(response.stream, self)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


@asynccontextmanager
async def stamped_session(url: str) -> AsyncIterator[tuple[Client, Arrivals]]:
    """One MCP session whose transport stamps response chunks."""
    arrivals = Arrivals(httpx2.AsyncHTTPTransport())
    async with (
        httpx2.AsyncClient(transport=arrivals, timeout=httpx2.Timeout(60.0, read=300.0)) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        yield client, arrivals


def _uri(replica_id: str) -> str:
    return f"replicas://replicas/{replica_id}"


# --- the two reader processes ------------------------------------------------------------------------------


async def _raw(base_url: str, key: str, replica_id: str) -> list[tuple[float, str]]:
    """The replica's SSE stream read with plain httpx: when each event's line arrived, and its type."""
    seen: list[tuple[float, str]] = []
    headers = {"Authorization": f"Bearer {key}"}
    async with (
        httpx2.AsyncClient(base_url=base_url, headers=headers, timeout=None) as http,
        http.stream("GET", f"/v1/replica/{replica_id}/events") as response,
    ):
        response.raise_for_status()
        print(json.dumps({}), flush=True)
        async with _until_stdin_closes():
            async for line in response.aiter_lines():
                if line.startswith("data:"):
                    now = time.perf_counter()  # stamped before the line is parsed
                    try:
                        seen.append((now, str(json.loads(line[5:]).get("type", ""))))
                    except ValueError:
                        continue
    return seen


async def _listen(url: str, replica_id: str) -> list[float]:
    """A `subscriptions/listen` subscriber of the replica: when each notification's bytes arrived."""
    notes: list[float] = []
    async with (
        stamped_session(url) as (client, arrivals),
        client.listen(resource_subscriptions=[_uri(replica_id)]) as updates,
    ):
        print(json.dumps({}), flush=True)
        async with _until_stdin_closes():
            async for _ in updates:
                notes.append(arrivals.last)
    return notes


@asynccontextmanager
async def _until_stdin_closes() -> AsyncIterator[None]:
    """Run the block until it ends or stdin closes, whichever is first."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    current = asyncio.current_task()
    assert current is not None

    async def watch() -> None:
        await reader.read()
        current.cancel()

    watcher = asyncio.create_task(watch())
    try:
        yield
    except asyncio.CancelledError:
        if not watcher.done():
            raise
        current.uncancel()
    finally:
        watcher.cancel()


async def _reader_main(argv: list[str]) -> None:
    kind = argv[0]
    result: Any = await (_raw(*argv[1:4]) if kind == "raw" else _listen(*argv[1:3]))
    print(json.dumps({"stamps": result}), flush=True)


class Reader:
    """A reader process started by `readers`: its stamps, once told to stop."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self._process = process

    async def stamps(self) -> Any:
        process = self._process
        assert process.stdin is not None
        assert process.stdout is not None
        process.stdin.close()
        return json.loads(await asyncio.wait_for(process.stdout.readline(), 30))["stamps"]


@asynccontextmanager
async def readers(url: str, base_url: str, key: str, replica_id: str) -> AsyncIterator[tuple[Reader, Reader]]:
    """The raw reader's process (started first: the sandbox writes to it before the server), then the
    listen subscriber's."""
    module = [sys.executable, "-m", "bench.live_latency"]
    async with AsyncExitStack() as stack:
        raw = await stack.enter_async_context(
            child([*module, "raw", base_url, key, replica_id], child_env(), "live-raw")
        )
        listen = await stack.enter_async_context(
            child([*module, "listen", url, replica_id], child_env(), "live-listen")
        )
        yield Reader(raw.process), Reader(listen.process)


# --- the measurement ----------------------------------------------------------------------------------------


def _first_after(seen: list[tuple[float, str]], kind: str, since: float) -> float | None:
    return next((t for t, k in seen if t >= since and k == kind), None)


async def measure(
    url: str,
    base_url: str,
    key: str,
    replica_id: str,
    control: httpx2.AsyncClient,
    *,
    samples: int,
    settle_s: float,
) -> dict[str, Any]:
    """`samples` turns of the replica, each followed by one `wait_for_replica` (see the module docstring)."""
    sent: list[tuple[float, float, float]] = []  # per sample: message posted, result bytes arrived, returned
    async with (
        readers(url, base_url, key, replica_id) as (raw, listen),
        stamped_session(url) as (waiter, got),
    ):
        await asyncio.sleep(settle_s)  # the server's watch has found the replica and joined its stream
        for sample in range(samples):
            since = time.perf_counter()
            body = {"message": f"Step {sample}: tighten the tests [[slow:30]]"}
            (await control.post(f"/v1/replica/{replica_id}/messages", json=body)).raise_for_status()
            await asyncio.sleep(TURN_STARTS)
            checked(await waiter.call_tool("wait_for_replica", {"replica_id": replica_id, "timeout_s": 30}))
            sent.append((since, got.last, time.perf_counter()))  # got.last: that response's last chunk
            await asyncio.sleep(AFTERWARDS)
        seen = [(float(t), str(k)) for t, k in await raw.stamps()]
        notes = [float(t) for t in await listen.stamps()]
    received: list[float] = []
    returned: list[float] = []
    notified: list[float] = []
    for since, arrived, back in sent:
        completed = _first_after(seen, "chat.turn.completed", since)
        if completed is None:
            continue
        done = _first_after(seen, "chat.updated", completed)
        if done is not None:
            received.append(arrived - done)
            returned.append(back - done)
        after = [t for t in notes if t >= completed]
        if after:
            notified.append(after[0] - completed)
    return {
        "samples": samples,
        "server": "replicas-mcp --transport http",
        "wait_return_after_raw_ms_p50": ms(median(received)),
        "wait_return_after_raw_ms_p95": ms(percentile(received, 95)),
        "wait_returned_after_raw_ms_p50": ms(median(returned)),
        "wait_returned_after_raw_ms_p95": ms(percentile(returned, 95)),
        "notification_after_raw_ms_p50": ms(median(notified)),
        "notification_after_raw_ms_p95": ms(percentile(notified, 95)),
    }


if __name__ == "__main__":
    asyncio.run(_reader_main(sys.argv[1:]))
