"""Ways to reach the server for get_replica: MCP in memory, over stdio and over Streamable HTTP (raw HTTP
is `World.http()`, the client a `ReplicasClient`). Each is an async context manager to enter."""

from __future__ import annotations

import contextlib
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult

from bench.noop import build_noop_server
from bench.procs import child, stdio_server_argv
from bench.world import World
from replicas_mcp.config import Settings
from replicas_mcp.server import build_server

Call = Callable[[], Awaitable[Any]]
NOOP_STDIO_ARGV = [sys.executable, "-m", "bench.mcp_http", "--stdio", "--noop"]


def checked(result: CallToolResult) -> CallToolResult:
    if result.is_error:
        text = result.content[0].text if result.content and hasattr(result.content[0], "text") else result
        raise RuntimeError(f"tool call failed: {text}")
    return result


def in_memory(world: World) -> Client:
    return Client(build_server(Settings(api_key=world.key, base_url=world.base_url)))


def in_memory_noop() -> Client:
    return Client(build_noop_server())


@contextlib.asynccontextmanager
async def over_stdio(world: World, *, noop: bool = False) -> AsyncIterator[Client]:
    """`replicas-mcp` over stdio, pointed at the world's sandbox (bench launcher if no CLI yet), or the
    SDK floor server (`noop`)."""
    command = NOOP_STDIO_ARGV if noop else stdio_server_argv()
    params = StdioServerParameters(
        command=command[0],
        args=command[1:],
        env=world.server_env(),
        cwd=str(Path(__file__).resolve().parent.parent),
    )
    log = Path(tempfile.gettempdir()) / "replicas-bench-stdio-server.log"
    with log.open("a") as errlog:
        async with Client(stdio_client(params, errlog=errlog)) as client:
            yield client


@contextlib.asynccontextmanager
async def http_server(
    world: World, *, json_response: bool, noop: bool = False
) -> AsyncIterator[tuple[str, int]]:
    """The server over Streamable HTTP in its own process: yields (url, pid)."""
    argv = [sys.executable, "-m", "bench.mcp_http", *(["--json-response"] if json_response else [])]
    argv += ["--noop"] if noop else []
    name = ("http-json" if json_response else "http-sse") + ("-noop" if noop else "")
    async with child(argv, world.server_env(), name) as server:
        yield str(server.ready["url"]), server.pid


def over_http(url: str) -> Client:
    return Client(streamable_http_client(url))
