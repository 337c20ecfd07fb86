"""The MCP server over real Streamable HTTP on loopback, built the way the CLI builds it."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.to_thread
import httpx2
from mcp import Client
from mcp.client.session import MessageHandlerFnT
from mcp.client.streamable_http import streamable_http_client
from mcp.server import MCPServer
from starlette.types import ASGIApp, Receive, Scope, Send

from replicas_mcp.client import ReplicasClient
from replicas_mcp.config import Settings
from replicas_mcp.sandbox.app import create_app, world_of
from replicas_mcp.sandbox.serve import RunningSandbox, serving
from replicas_mcp.server import build_server
from replicas_mcp.server.auth import BYO_KEY_PLACEHOLDER, admission_of, protect_http_app

from .helpers import TIME_SCALE

# The headers Streamable HTTP wants, for tests that speak HTTP to /mcp themselves (guards, sessions, limits)
# rather than through an MCP client; they send `INITIALIZE` (tests/helpers.py) to open a session.
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


async def post_mcp(
    http: httpx2.AsyncClient, url: str, body: dict[str, Any], **headers: str
) -> httpx2.Response:
    """POST one JSON-RPC message to the server at `url` (its /mcp endpoint), with these extra headers."""
    return await http.post(f"{url}/mcp", json=body, headers={**MCP_HEADERS, **headers})


@dataclass
class HeaderRecorder:
    """ASGI middleware in front of the sandbox: the headers of every API request it received, and each
    request's method and path with the key it carried (`requests`)."""

    app: ASGIApp
    seen: list[dict[str, str]] = field(default_factory=list)
    requests: list[tuple[str, str, str]] = field(default_factory=list)  # (method, path, bearer key)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/v1/"):
            headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
            self.seen.append(headers)
            key = headers.get("authorization", "").removeprefix("Bearer ")
            self.requests.append((scope["method"], scope["path"], key))
        await self.app(scope, receive, send)


@asynccontextmanager
async def recorded_sandbox(**options: Any) -> AsyncIterator[tuple[RunningSandbox, HeaderRecorder]]:
    """A sandbox whose API requests' headers are recorded (default keys: two organizations); strict (the
    contract's fields and rules only) unless told."""
    options.setdefault("strict", True)
    app = create_app(seed=0, time_scale=TIME_SCALE, **options)
    recorder = HeaderRecorder(app)
    async with serving(recorder) as base_url:
        world = world_of(app)
        try:
            yield RunningSandbox(base_url=base_url, app=app, world=world), recorder
        finally:
            world.close_streams()


@asynccontextmanager
async def http_server(sandbox: RunningSandbox, **fields: Any) -> AsyncIterator[tuple[str, MCPServer[Any]]]:
    """The MCP server for these settings at `http://127.0.0.1:<port>`, protected as the CLI protects it."""
    fields.setdefault("toolsets", ("all",))
    fields.setdefault("watch_poll_interval", 0.05)
    fields.setdefault("confirm_destructive", "never")
    settings = Settings(transport="http", base_url=sandbox.base_url, **fields)
    key = settings.api_key.get_secret_value() if settings.api_key else BYO_KEY_PLACEHOLDER
    async with AsyncExitStack() as stack:
        api = await stack.enter_async_context(ReplicasClient(api_key=key, base_url=sandbox.base_url))
        server = build_server(settings, api)
        app = server.streamable_http_app(streamable_http_path="/mcp", stateless_http=settings.stateless)
        url = await stack.enter_async_context(
            serving(protect_http_app(app, settings, admission=admission_of(server)))
        )
        yield url, server


@asynccontextmanager
async def mcp_client(
    url: str,
    *,
    bearer: str | None = None,
    mode: str = "auto",
    message_handler: MessageHandlerFnT | None = None,
    **headers: str,
) -> AsyncIterator[Client]:
    """An MCP client over Streamable HTTP, sending `Authorization: Bearer <bearer>` and any extra headers
    (`message_handler`: as for `mcp.Client`, e.g. to receive a legacy session's notifications)."""
    all_headers = dict(headers)
    if bearer is not None:
        all_headers["Authorization"] = f"Bearer {bearer}"
    async with AsyncExitStack() as stack:
        http = await stack.enter_async_context(httpx2.AsyncClient(headers=all_headers, timeout=30))
        client = await stack.enter_async_context(
            Client(
                streamable_http_client(f"{url}/mcp", http_client=http),
                mode=mode,
                message_handler=message_handler,
            )
        )
        yield client


@asynccontextmanager
async def cli_http_server(
    *args: str, env: dict[str, str] | None = None, sandbox: bool = True, hang: float = 60
) -> AsyncIterator[tuple[str, subprocess.Popen[bytes], list[bytes]]]:
    """`replicas-mcp [--sandbox] --transport http --port 0 ARGS` as a subprocess, with `env` added to an
    environment without the shell's REPLICAS_* variables; yields its URL, the process and its stderr lines
    (read as they come). `hang` only guards against a server that never starts."""
    kept = {key: value for key, value in os.environ.items() if not key.startswith("REPLICAS_")}
    command = [sys.executable, "-m", "replicas_mcp", *(["--sandbox"] if sandbox else [])]
    process = subprocess.Popen(
        [*command, "--transport", "http", "--port", "0", *args],
        env={**kept, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert process.stderr is not None
    stderr: list[bytes] = []

    def read_stderr() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            stderr.append(line)

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(anyio.to_thread.run_sync, read_stderr)
        try:
            with anyio.fail_after(hang):
                while not any(b"Streamable HTTP on" in line for line in stderr):
                    assert process.poll() is None, b"".join(stderr).decode()
                    await anyio.sleep(0.05)
            line = next(line for line in stderr if b"Streamable HTTP on" in line).decode()
            yield line.split(" on ", 1)[1].strip().removesuffix("/mcp"), process, stderr
        finally:
            if process.poll() is None:
                process.kill()
            await anyio.to_thread.run_sync(process.wait)
            process.stderr.close()
