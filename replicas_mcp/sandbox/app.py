"""The sandbox's ASGI app: auth, error envelope, fault middleware and every route.

`create_app()` builds a fresh `World` (all state) and serves it. Requests under `/v1/` need
`Authorization: Bearer <key>`; a missing or unknown key is a 401 with the error envelope. Only
`POST /v1/automations/webhook/{token}` is public (see `automations/webhook.py`). The middleware
puts the caller and its organization's stores on `request.state` (`caller`, `org`, `config`,
`automations`, `faults`), so route modules never parse the header. Handlers raise `ApiError`; it becomes
`{"error": ..., "details": ...}` with its status. See docs/sandbox.md for keys, directives and faults.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from replicas_mcp.sandbox.automations.routes import automation_routes
from replicas_mcp.sandbox.automations.webhook import automation_webhook_routes, is_public_webhook_request
from replicas_mcp.sandbox.control import control_routes
from replicas_mcp.sandbox.environments.hook_routes import hook_routes
from replicas_mcp.sandbox.environments.part_routes import part_routes
from replicas_mcp.sandbox.environments.routes import environment_routes
from replicas_mcp.sandbox.errors import ApiError
from replicas_mcp.sandbox.faults import DroppedConnection, FaultMiddleware, HandledCounter
from replicas_mcp.sandbox.fidelity import Fidelity, WakeReads
from replicas_mcp.sandbox.workspaces.routes import replica_routes
from replicas_mcp.sandbox.workspaces.store import Timing
from replicas_mcp.sandbox.world import DEFAULT_KEYS, ApiKey, World

logger = logging.getLogger("replicas_mcp.sandbox")


class AuthMiddleware:
    """Bearer key → `Caller` and the caller's organization on `request.state`, for `/v1/` paths.

    The one exception is `POST /v1/automations/webhook/{token}`: its token is the secret (no key, no caller).
    """

    def __init__(self, app: ASGIApp, *, world: World) -> None:
        self.app = app
        self.world = world

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or not scope["path"].startswith("/v1/")
            or is_public_webhook_request(scope["method"], scope["path"])
        ):
            await self.app(scope, receive, send)
            return
        header = ""
        for name, value in scope["headers"]:
            if name == b"authorization":
                header = value.decode("latin-1")
                break
        scheme, _, token = header.partition(" ")
        found = self.world.authenticate(token.strip()) if scheme.lower() == "bearer" else None
        if found is None:
            detail = (
                "Send Authorization: Bearer <API key>."
                if not header
                else "The API key is not valid for this server. Check REPLICAS_API_KEY."
            )
            error = ApiError(401, "Unauthorized", detail)
            response = JSONResponse(error.envelope(), status_code=401, headers={"WWW-Authenticate": "Bearer"})
            await response(scope, receive, send)
            return
        caller, org = found
        state = scope.setdefault("state", {})
        state.update(
            caller=caller,
            org=org,
            config=org.config,
            automations=org.automations,
            faults=self.world.faults,
            fidelity=self.world.fidelity,
        )
        await self.app(scope, receive, send)


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return JSONResponse(exc.envelope(), status_code=exc.status, headers=exc.headers or None)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        error, details = "Not found", f"No route for {request.method} {request.url.path}"
    elif exc.status_code == 405:
        error, details = "Method not allowed", f"{request.method} is not supported on {request.url.path}"
    else:
        error, details = str(exc.detail), None
    return JSONResponse(
        {"error": error, "details": details}, status_code=exc.status_code, headers=exc.headers
    )


async def _unexpected(request: Request, exc: Exception) -> Response:
    if isinstance(exc, DroppedConnection):
        # Cut on purpose by fault injection, after the response started: nothing to send, nothing to log.
        return Response(status_code=500)
    logger.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return JSONResponse({"error": "Internal server error", "details": type(exc).__name__}, status_code=500)


def create_app(
    *,
    seed: int | None = 0,
    time_scale: float = 1.0,
    keys: Sequence[ApiKey] = DEFAULT_KEYS,
    idle_sleep_after: float = 600.0,
    boot_seconds: float = 2.0,
    wake_seconds: float = 1.0,
    heartbeat_seconds: float = 15.0,
    strict: bool = False,
    wake_reads: WakeReads = "guide",
    replay: bool | None = None,
) -> Starlette:
    """A fresh sandbox. Durations are simulated seconds, multiplied by `time_scale`; `seed` fixes ids.

    `strict` serves exactly the contract's fields and rules; `wake_reads` picks how reads of a sleeping
    workspace answer ("guide": 409, "contract": 200 with `waking: true`); `replay` whether the event stream
    resumes after `Last-Event-ID` (None: only when not strict; an extension). See `fidelity.py`.
    """
    timing = Timing(
        boot_seconds=boot_seconds,
        wake_seconds=wake_seconds,
        idle_sleep_after=idle_sleep_after,
        heartbeat_seconds=heartbeat_seconds,
    )
    fidelity = Fidelity(strict=strict, wake_reads=wake_reads, replay=replay)
    world = World(seed=seed, time_scale=time_scale, keys=keys, timing=timing, fidelity=fidelity)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        world.start()
        try:
            yield
        finally:
            await world.aclose()

    # Configuration routes first, so `/v1/replica/repositories` is not taken for a replica id; the public
    # webhook before the automation routes, so `/v1/automations/webhook/trigger` is never an automation id.
    routes = [
        *control_routes(),
        *environment_routes(),
        *part_routes(),
        *hook_routes(),
        *automation_webhook_routes(),
        *automation_routes(),
        *replica_routes(),
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(FaultMiddleware, controller=world.faults),
            Middleware(AuthMiddleware, world=world),
            # Inside the auth check: a request rejected with a 401 is received, never handled.
            Middleware(HandledCounter, controller=world.faults),
        ],
        exception_handlers={ApiError: _api_error, HTTPException: _http_error, Exception: _unexpected},
        lifespan=lifespan,
    )
    app.state.world = world
    return app


def world_of(app: Starlette) -> World:
    world: World = app.state.world
    return world
