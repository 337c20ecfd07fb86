"""Serving an ASGI app on a free loopback port, with TCP_NODELAY on every connection.

Why not `replicas_mcp.sandbox.serve.serving`: it binds `socket.socket(family, SOCK_STREAM)`, whose
protocol number is 0, and asyncio only sets TCP_NODELAY on sockets whose protocol is IPPROTO_TCP. On
kept-alive connections each response then waits ~40 ms for the client's delayed ACK (Nagle: uvicorn
writes the headers and the body separately), which buries every overhead this bench measures. The
same fix belongs in `serve._bind` (see docs/performance.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Generator

import uvicorn
from starlette.types import ASGIApp

STARTUP_TIMEOUT = 10.0


class _Server(uvicorn.Server):
    """Leaves signal handling to the host process (the child exits when its stdin closes)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def bind_loopback() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextlib.asynccontextmanager
async def serve(app: ASGIApp) -> AsyncIterator[str]:
    """Serve `app` on 127.0.0.1 (free port) in a background task; yields its base URL."""
    sock = bind_loopback()
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, http="h11", lifespan="on", log_level="warning", access_log=False, timeout_graceful_shutdown=2
    )
    server = _Server(config)
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    try:
        async with asyncio.timeout(STARTUP_TIMEOUT):
            while not server.started:
                if task.done():
                    task.result()
                    raise RuntimeError("the server stopped during startup")
                await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        try:
            await task
        finally:
            sock.close()
