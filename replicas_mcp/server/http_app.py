"""Serving the MCP server over Streamable HTTP: the app (with its auth and Host middleware) and uvicorn.

The listening socket is bound by the caller (`cli.py`), so a port in use is reported before anything
starts. Shutdown is bounded: on SIGTERM or Ctrl-C uvicorn stops accepting, in-flight requests get
`SHUTDOWN_GRACE` seconds (a bounded wait returns its cursor within `WAIT_GRACE`, see
`replicas_mcp/shutdown.py`), and whatever is still open after that is cancelled.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import sys
from typing import Any

import uvicorn
from sse_starlette.sse import AppStatus
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp

from replicas_mcp.config import Settings
from replicas_mcp.shutdown import begin_shutdown

logger = logging.getLogger(__name__)

# Seconds in-flight requests get once shutdown starts; a wait in flight is told to end within WAIT_GRACE.
SHUTDOWN_GRACE = 5
WAIT_GRACE = 1.0
# The most a request's head may take while incomplete (h11's default, stated: headers carry a bearer token,
# a session id and little else); past it the client gets 400.
MAX_HEADER_BYTES = 16 * 1024


class _Server(uvicorn.Server):
    """uvicorn, telling bounded waits to wrap up (and return their cursor) the moment shutdown starts.

    sse-starlette would end every SSE response at the signal, cutting off the answers of the waits in
    flight; its automatic drain is off (`serve_http`), and the remaining streams (listen streams, legacy
    GET streams, which never end by themselves) are ended once the waits have had `WAIT_GRACE`."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        told = begin_shutdown(WAIT_GRACE)
        if told:
            logger.warning("shutting down: %d wait(s) in flight return within %.0f s", told, WAIT_GRACE)

        async def end_streams_after_the_waits() -> None:
            await asyncio.sleep(WAIT_GRACE + 0.5)
            AppStatus.should_exit = True

        ender = asyncio.ensure_future(end_streams_after_the_waits())
        try:
            await super().shutdown(sockets)
        finally:
            ender.cancel()


def warn_without_token(settings: Settings, sandbox: bool) -> None:
    """One warning line at start for an HTTP server acting with its own key and no bearer token. Allowed on
    loopback, but loopback is not "this user": any local user or process reaching the port acts with the
    key (and bills its workspaces). Not for the embedded sandbox, whose key is a throwaway."""
    if settings.transport != "http" or settings.auth != "server-key" or settings.http_token or sandbox:
        return
    logger.warning(
        "no HTTP token: any local user or process that can connect to %s acts with this server's Replicas "
        "API key; set REPLICAS_MCP_HTTP_TOKEN (e.g. openssl rand -hex 32) and have clients send "
        "'Authorization: Bearer <token>'",
        settings.host,
    )


def http_app(server: Any, settings: Settings, transport_security: Any) -> ASGIApp:
    """The ASGI app: `/mcp` (Streamable HTTP), `/healthz`, custom routes, behind the auth mode's middleware
    and exact Host/Origin matching."""
    from replicas_mcp.server.auth import admission_of, protect_http_app
    from replicas_mcp.server.http_deadlines import EndQuietlyMidBody
    from replicas_mcp.server.http_guards import ExactHostMiddleware
    from replicas_mcp.server.state.backends import attached

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True, "server": "replicas-mcp"})

    app: Starlette = server.streamable_http_app(
        streamable_http_path="/mcp",
        transport_security=transport_security,
        host=settings.host,
        stateless_http=settings.stateless,
    )
    app.add_route("/healthz", healthz, methods=["GET"])
    # --http-token on /mcp, or byo-key session binding (its per-caller cap counted in the shared state)
    shared = attached(server)
    protected = protect_http_app(
        app, settings, shared.leases if shared is not None else None, admission_of(server)
    )
    if settings.instance_name:  # a fleet: session ids name their instance (server/affinity.py)
        from replicas_mcp.server.affinity import SessionAffinityMiddleware

        protected = SessionAffinityMiddleware(protected, settings.instance_name)
    guarded = ExactHostMiddleware(
        protected, hosts=transport_security.allowed_hosts, origins=transport_security.allowed_origins
    )
    return EndQuietlyMidBody(guarded)  # a body cut off by its deadline (http_deadlines.py) is no error


async def serve_http(
    server: Any, settings: Settings, listener: socket.socket, transport_security: Any
) -> None:
    import anyio

    from replicas_mcp.server.http_deadlines import guarded_h11

    config = uvicorn.Config(
        http_app(server, settings, transport_security),
        # h11, a response's head and body in one send (http_send.py), a deadline for receiving each request
        # and a cap on open connections (http_deadlines.py: uvicorn has neither)
        http=guarded_h11(settings.http_request_timeout, settings.http_max_connections),
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
        log_level=settings.log_level.lower(),
        log_config=None,
        timeout_graceful_shutdown=SHUTDOWN_GRACE,
    )
    _uvicorn_logs_to_stderr()
    AppStatus.enable_automatic_graceful_drain = False  # see _Server
    http = _Server(config)
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(lambda: http.serve(sockets=[listener]))
        while not http.started:
            if http.should_exit:
                return
            await anyio.sleep(0.02)
        host, port = listener.getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        print(f"replicas-mcp: Streamable HTTP on http://{shown}:{port}/mcp", file=sys.stderr, flush=True)


def _uvicorn_logs_to_stderr() -> None:
    """uvicorn's own logging config (applied by any uvicorn started earlier in the process, such as the
    embedded sandbox) sends access lines to stdout, which is not for logs; hand its loggers to the root
    logger's stderr handler instead."""
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
