"""Routes for `/v1/automations/**`: parse the request, call `AutomationStore`, render the spec's shapes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from replicas_mcp.sandbox import fidelity
from replicas_mcp.sandbox.automations.records import AutomationRecord, ExecutionRecord
from replicas_mcp.sandbox.automations.store import AutomationStore
from replicas_mcp.sandbox.automations.triggers import TRIGGER_TYPES
from replicas_mcp.sandbox.http import (
    caller_of,
    paginate,
    query_bool,
    query_choice,
    query_int,
    read_object,
    respond,
)

MAX_PAGE_SIZE = 100

T = TypeVar("T")


def automations_of(request: Request) -> AutomationStore:
    store: AutomationStore = request.state.automations
    return store


def automation_json(store: AutomationStore, automation: AutomationRecord) -> dict[str, Any]:
    """The spec's `AutomationRecord`."""
    settings = automation.settings
    cron = automation.cron_trigger
    return {
        "id": automation.id,
        "organization_id": store.org_id,
        "name": settings["name"],
        "description": settings["description"],
        "triggers": settings["triggers"],
        "prompt": settings["prompt"],
        "debounce_seconds": settings["debounce_seconds"],
        "environment_id": automation.environment_id,
        "enabled": settings["enabled"],
        "webhook_token": automation.webhook_token,
        "cron_expression": cron["schedule"] if cron else None,
        "cron_timezone": cron["timezone"] if cron else None,
        "cron_next_fire_at": store.next_fire_at(automation),
        "user_id": automation.user_id,
        "created_by": automation.created_by,
        "workspace_lifecycle_policy": settings["workspace_lifecycle_policy"],
        "workspace_auto_stop_minutes": settings["workspace_auto_stop_minutes"],
        "workspace_size": settings["workspace_size"],
        "config": settings["config"],
        "agent_provider": settings["agent_provider"],
        "model": settings["model"],
        "thinking_level": settings["thinking_level"],
        "plan_mode": settings["plan_mode"],
        "goal_mode": settings["goal_mode"],
        "fast_mode": settings["fast_mode"],
        "created_at": automation.created_at,
        "updated_at": automation.updated_at,
    }


def execution_json(organization_id: str, execution: ExecutionRecord) -> dict[str, Any]:
    """The spec's `AutomationExecutionRecord`."""
    return {
        "id": execution.id,
        "automation_id": execution.automation_id,
        "organization_id": organization_id,
        "workspace_id": execution.workspace_id,
        "triggered_at": execution.triggered_at,
        "trigger_payload": execution.trigger_payload,
        "status": execution.status,
        "config": execution.config,
        "error": execution.error,
        "completed_at": execution.completed_at,
    }


def _page_query(request: Request) -> tuple[int, int]:
    """The `page` and `limit` query parameters of a list route."""
    page = query_int(request, "page", default=1, minimum=1, maximum=10**6)
    limit = query_int(request, "limit", default=20, minimum=1, maximum=MAX_PAGE_SIZE)
    return page, limit


def _page_response(
    key: str, items: list[T], render: Callable[[T], dict[str, Any]], *, page: int, limit: int
) -> JSONResponse:
    """One page of `items` under `key`, with the spec's counts (`totalPages` in camelCase)."""
    shown, total_pages = paginate(items, page=page, limit=limit)
    return respond(
        {
            key: [render(item) for item in shown],
            "total": len(items),
            "page": page,
            "limit": limit,
            "totalPages": total_pages,
        }
    )


async def list_automations(request: Request) -> JSONResponse:
    store = automations_of(request)
    page, limit = _page_query(request)
    matches = store.matching(
        caller_of(request),
        scope=query_choice(request, "scope", ("org", "user", "all"), default="org"),
        trigger_type=query_choice(request, "trigger_type", ("all", *TRIGGER_TYPES), default="all"),
        enabled=query_bool(request, "enabled"),
        search=request.query_params.get("search"),
    )
    return _page_response(
        "automations", matches, lambda automation: automation_json(store, automation), page=page, limit=limit
    )


async def create_automation(request: Request) -> JSONResponse:
    store = automations_of(request)
    body = await read_object(request, non_nullable=fidelity.CREATE_AUTOMATION_FIELDS)
    automation = store.create(caller_of(request), body)
    return respond({"automation": automation_json(store, automation)}, 201)


async def get_automation(request: Request) -> JSONResponse:
    store = automations_of(request)
    return respond(
        {
            "automation": automation_json(
                store, store.get(caller_of(request), request.path_params["automation_id"])
            )
        }
    )


async def update_automation(request: Request) -> JSONResponse:
    store = automations_of(request)
    body = await read_object(request, non_nullable=fidelity.UPDATE_AUTOMATION_FIELDS)
    automation = store.update(caller_of(request), request.path_params["automation_id"], body)
    return respond({"automation": automation_json(store, automation)})


async def delete_automation(request: Request) -> JSONResponse:
    automations_of(request).delete(caller_of(request), request.path_params["automation_id"])
    return respond({"success": True})


async def trigger_automation(request: Request) -> JSONResponse:
    store = automations_of(request)
    caller = caller_of(request)
    store.get(caller, request.path_params["automation_id"])  # 404 before looking at the body
    body = await read_object(request, optional=True)
    execution = store.trigger(caller, request.path_params["automation_id"], body)
    return respond({"execution_id": execution.id, "workspace_id": execution.workspace_id})


async def list_executions(request: Request) -> JSONResponse:
    store = automations_of(request)
    page, limit = _page_query(request)
    runs = store.executions(caller_of(request), request.path_params["automation_id"])
    return _page_response(
        "executions", runs, lambda run: execution_json(store.org_id, run), page=page, limit=limit
    )


def automation_routes() -> list[BaseRoute]:
    return [
        Route("/v1/automations", list_automations, methods=["GET"]),
        Route("/v1/automations", create_automation, methods=["POST"]),
        Route("/v1/automations/{automation_id}", get_automation, methods=["GET"]),
        Route("/v1/automations/{automation_id}", update_automation, methods=["PATCH"]),
        Route("/v1/automations/{automation_id}", delete_automation, methods=["DELETE"]),
        Route("/v1/automations/{automation_id}/trigger", trigger_automation, methods=["POST"]),
        Route("/v1/automations/{automation_id}/executions", list_executions, methods=["GET"]),
    ]
