"""`/_sandbox/**`: control endpoints for subprocess tests and benchmarks (not part of the Replicas API).

They need no API key (the sandbox is meant for loopback) and are never subject to fault rules:

- `GET /_sandbox/health` → `{"ok": true}`
- `GET|POST|DELETE /_sandbox/faults`, `DELETE /_sandbox/faults/{fault_id}`: list, add (body: a fault
  spec, see `faults.py`), clear all, remove one
- `GET|DELETE /_sandbox/stats`: request counts per `METHOD route-template`; reset them
- `POST /_sandbox/replicas/{id}/status` `{"status": "sleeping"|"archived"|"error"|"active", "message"?}`
- `GET /_sandbox/webhooks`: every webhook delivery so far, with each attempt's outcome
- `POST /_sandbox/events/{github|gitlab}`: a simulated repository event that fires matching automations
  (see `repo_events.py`) → `{"event": ..., "fired": [{automation_id, execution_id, workspace_id}]}`
"""

from __future__ import annotations

from dataclasses import asdict

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from replicas_mcp.sandbox.automations import repo_events
from replicas_mcp.sandbox.errors import not_found
from replicas_mcp.sandbox.http import expect_choice, expect_optional_str, read_object, require
from replicas_mcp.sandbox.workspaces import shapes
from replicas_mcp.sandbox.world import World

FORCEABLE_STATUSES = ("sleeping", "archived", "error", "active")


def _world(request: Request) -> World:
    world: World = request.app.state.world
    return world


async def health(request: Request) -> Response:
    return JSONResponse({"ok": True})


async def list_faults(request: Request) -> Response:
    return JSONResponse({"faults": [rule.wire() for rule in _world(request).faults.rules]})


async def add_fault(request: Request) -> Response:
    rule = _world(request).faults.add(await read_object(request))
    return JSONResponse({"fault": rule.wire()}, status_code=201)


async def clear_faults(request: Request) -> Response:
    faults = _world(request).faults
    removed = len(faults.rules)
    faults.clear()
    return JSONResponse({"success": True, "removed": removed})


async def remove_fault(request: Request) -> Response:
    fault_id = request.path_params["fault_id"]
    if not _world(request).faults.remove(fault_id):
        raise not_found("Fault", fault_id)
    return JSONResponse({"success": True})


async def get_stats(request: Request) -> Response:
    return JSONResponse(_world(request).faults.stats.snapshot())


async def reset_stats(request: Request) -> Response:
    _world(request).faults.stats.reset()
    return JSONResponse({"success": True})


async def force_status(request: Request) -> Response:
    world = _world(request)
    replica_id = request.path_params["id"]
    found = world.find_replica(replica_id)
    if found is None:
        raise not_found("Replica", replica_id)
    org, replica = found
    body = await read_object(request)
    status = expect_choice(require(body, "status"), "status", FORCEABLE_STATUSES)
    org.workspaces.force_status(replica, status, expect_optional_str(body.get("message"), "message"))
    return JSONResponse({"replica": shapes.list_item(replica, strict=_world(request).fidelity.strict)})


async def list_webhook_deliveries(request: Request) -> Response:
    return JSONResponse(
        {"deliveries": [asdict(delivery) for delivery in _world(request).webhooks.deliveries]}
    )


async def deliver_repo_event(request: Request) -> Response:
    orgs = _world(request).organizations.values()
    repositories = [(org.automations, repo) for org in orgs for repo in org.config.repositories()]
    body = await read_object(request)
    store, event = repo_events.parse_event(request.path_params["provider"], body, repositories)
    return JSONResponse({"event": event.event, "fired": repo_events.deliver(store, event)})


def control_routes() -> list[BaseRoute]:
    return [
        Route("/_sandbox/health", health, methods=["GET"]),
        Route("/_sandbox/faults", list_faults, methods=["GET"]),
        Route("/_sandbox/faults", add_fault, methods=["POST"]),
        Route("/_sandbox/faults", clear_faults, methods=["DELETE"]),
        Route("/_sandbox/faults/{fault_id}", remove_fault, methods=["DELETE"]),
        Route("/_sandbox/stats", get_stats, methods=["GET"]),
        Route("/_sandbox/stats", reset_stats, methods=["DELETE"]),
        Route("/_sandbox/replicas/{id}/status", force_status, methods=["POST"]),
        Route("/_sandbox/webhooks", list_webhook_deliveries, methods=["GET"]),
        Route("/_sandbox/events/{provider}", deliver_repo_event, methods=["POST"]),
    ]
