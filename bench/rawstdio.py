"""A bare stdio MCP session over pipes (no client library): exact wire bytes and exact spawn timings.

Speaks the 2025-11-25 handshake (`initialize`, `notifications/initialized`), then one request at a time;
every response is one line of JSON on the child's stdout, returned as the bytes that crossed the pipe.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from bench.procs import stop

TIMEOUT = 30.0
PROTOCOL = "2025-11-25"


def line(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode() + b"\n"


class RawStdio:
    def __init__(self, process: asyncio.subprocess.Process, started: float) -> None:
        self.process = process
        self.started = started
        self.next_id = 1
        self.initialize_seconds = float("nan")

    @classmethod
    async def spawn(cls, argv: list[str], env: dict[str, str]) -> RawStdio:
        started = time.perf_counter()
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            env=env,
            limit=16 * 1024 * 1024,
        )
        return cls(process, started)

    @property
    def pid(self) -> int:
        return self.process.pid

    async def initialize(self) -> bytes:
        """Sends `initialize`; records spawn → result seconds; completes the handshake."""
        params = {
            "protocolVersion": PROTOCOL,
            "capabilities": {},
            "clientInfo": {"name": "replicas-bench", "version": "0"},
        }
        result = await self.request("initialize", params)
        self.initialize_seconds = time.perf_counter() - self.started
        await self._send(line({"jsonrpc": "2.0", "method": "notifications/initialized"}))
        return result

    async def request(self, method: str, params: dict[str, Any] | None = None) -> bytes:
        """The response line (without its newline) exactly as the server wrote it."""
        request_id = self.next_id
        self.next_id += 1
        await self._send(line({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params or {}}))
        assert self.process.stdout is not None
        while True:
            raw = await asyncio.wait_for(self.process.stdout.readline(), TIMEOUT)
            if not raw:
                raise RuntimeError(f"the server closed stdout during {method}")
            message = json.loads(raw)
            if message.get("id") == request_id:
                if "error" in message:
                    raise RuntimeError(f"{method} failed: {message['error']}")
                return raw.rstrip(b"\n")
            # a notification or a server request: not ours, skip it

    async def call_tool(self, name: str, arguments: dict[str, Any]) -> tuple[bytes, dict[str, Any]]:
        raw = await self.request("tools/call", {"name": name, "arguments": arguments})
        result: dict[str, Any] = json.loads(raw)["result"]
        if result.get("isError"):
            raise RuntimeError(f"{name} failed: {result.get('content')}")
        return raw, result

    async def _send(self, data: bytes) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(data)
        await self.process.stdin.drain()

    async def close(self) -> None:
        await stop(self.process)


@contextlib.asynccontextmanager
async def initialized(argv: list[str], env: dict[str, str]) -> AsyncIterator[RawStdio]:
    """`argv` spawned and past the handshake for the block (`initialize_seconds` is set); stopped after it."""
    session = await RawStdio.spawn(argv, env)
    try:
        await session.initialize()
        yield session
    finally:
        await session.close()
