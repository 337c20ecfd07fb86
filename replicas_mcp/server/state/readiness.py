"""`GET /readyz`: ready to take traffic, meaning the shared store answers (liveness stays `/healthz`).

A load balancer or orchestrator stops sending work to an instance whose readiness fails, while the process
keeps running and recovers on its own once Redis is back. Without `--redis-url` it is always ready.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse

if TYPE_CHECKING:
    from mcp.server import MCPServer

    from replicas_mcp.server.state.shared import SharedState

READY_PATH = "/readyz"


def register_readiness(server: MCPServer[Any], shared: SharedState, instance_name: str | None) -> None:
    async def readyz(request: Request) -> JSONResponse:
        ready = await shared.check()
        body: dict[str, Any] = {"ready": ready, "shared_state": shared.kind}
        if instance_name:
            body["instance"] = instance_name
        if not ready:
            body["detail"] = "the shared state store (Redis) is unreachable"
        return JSONResponse(body, status_code=200 if ready else 503)

    server.custom_route(READY_PATH, methods=["GET"])(readyz)
