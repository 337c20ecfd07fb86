"""Serving the MCP server over Streamable HTTP: the app (with its auth and Host middleware) and uvicorn.

The listening socket is bound by the caller (`cli.py`), so a port in use is reported before anything
starts. Shutdown is bounded: on SIGTERM or Ctrl-C uvicorn stops accepting, in-flight requests get
`SHUTDOWN_GRACE` seconds (a bounded wait returns its cursor when the server tells it to stop, see
`server/shutdown.py`), and whatever is still open after that is cancelled.
"""

from __future__ import annotations

import socket
import sys
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp

from replicas_mcp.config import Settings

# Seconds in-flight requests get once shutdown starts (a wait in flight ends well within it).
SHUTDOWN_GRACE = 5


def http_app(server: Any, settings: Settings, transport_security: Any) -> ASGIApp:
    """The ASGI app: `/mcp` (Streamable HTTP), `/healthz`, custom routes, behind the auth mode's middleware
    and exact Host/Origin matching."""
    from replicas_mcp.server.auth import ExactHostMiddleware, protect_http_app

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True, "server": "replicas-mcp"})

    app: Starlette = server.streamable_http_app(
        streamable_http_path="/mcp",
        transport_security=transport_security,
        host=settings.host,
        stateless_http=settings.stateless,
    )
    app.add_route("/healthz", healthz, methods=["GET"])
    protected = protect_http_app(app, settings)  # --http-token on /mcp, or byo-key session binding
    return ExactHostMiddleware(
        protected, hosts=transport_security.allowed_hosts, origins=transport_security.allowed_origins
    )


async def serve_http(
    server: Any, settings: Settings, listener: socket.socket, transport_security: Any
) -> None:
    import anyio
    import uvicorn

    config = uvicorn.Config(
        http_app(server, settings, transport_security),
        log_level=settings.log_level.lower(),
        timeout_graceful_shutdown=SHUTDOWN_GRACE,
    )
    http = uvicorn.Server(config)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(lambda: http.serve(sockets=[listener]))
        while not http.started:
            if http.should_exit:
                return
            await anyio.sleep(0.02)
        host, port = listener.getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        print(f"replicas-mcp: Streamable HTTP on http://{shown}:{port}/mcp", file=sys.stderr, flush=True)
