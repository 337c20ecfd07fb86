"""Ways to reach the server for get_replica: raw HTTP, the client, and MCP over each transport."""

from __future__ import annotations

import contextlib
import sys
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx2
from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.types import CallToolResult

from bench.noop import build_noop_server
from bench.procs import child, stdio_server_argv
from bench.world import World
from replicas_mcp.client import ReplicasClient
from replicas_mcp.config import Settings
from replicas_mcp.server import build_server

Call = Callable[[], Awaitable[Any]]


def checked(result: CallToolResult) -> CallToolResult:
    if result.is_error:
        text = result.content[0].text if result.content and hasattr(result.content[0], "text") else result
        raise RuntimeError(f"tool call failed: {text}")
    return result


def stdio_params(world: World, *args: str, **env: str) -> StdioServerParameters:
    """`replicas-mcp ARGS` over stdio, pointed at the world's sandbox (bench launcher if no CLI yet)."""
    command = stdio_server_argv(*args)
    return StdioServerParameters(
        command=command[0],
        args=command[1:],
        env=world.server_env(**env),
        cwd=str(Path(__file__).resolve().parent.parent),
    )


def settings_for(world: World, **overrides: Any) -> Settings:
    return Settings(api_key=world.key, base_url=world.base_url, **overrides)


@contextlib.asynccontextmanager
async def raw_http(world: World) -> AsyncIterator[httpx2.AsyncClient]:
    async with world.http() as http:
        yield http


@contextlib.asynccontextmanager
async def replicas_client(world: World) -> AsyncIterator[ReplicasClient]:
    async with ReplicasClient(api_key=world.key, base_url=world.base_url) as client:
        yield client


@contextlib.asynccontextmanager
async def in_memory(world: World, **settings: Any) -> AsyncIterator[Client]:
    async with Client(build_server(settings_for(world, **settings))) as client:
        yield client


@contextlib.asynccontextmanager
async def over_stdio(world: World, *args: str, **env: str) -> AsyncIterator[Client]:
    log = Path(tempfile.gettempdir()) / "replicas-bench-stdio-server.log"
    with log.open("a") as errlog:
        async with Client(stdio_client(stdio_params(world, *args, **env), errlog=errlog)) as client:
            yield client


@contextlib.asynccontextmanager
async def in_memory_noop() -> AsyncIterator[Client]:
    async with Client(build_noop_server()) as client:
        yield client


@contextlib.asynccontextmanager
async def over_stdio_noop(world: World) -> AsyncIterator[Client]:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "bench.mcp_http", "--stdio", "--noop"],
        env=world.server_env(),
        cwd=str(Path(__file__).resolve().parent.parent),
    )
    async with Client(params) as client:
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


@contextlib.asynccontextmanager
async def over_http(url: str, http_client: httpx2.AsyncClient | None = None) -> AsyncIterator[Client]:
    from mcp.client.streamable_http import streamable_http_client

    async with Client(streamable_http_client(url, http_client=http_client)) as client:
        yield client
