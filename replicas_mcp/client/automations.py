"""`client.automations`: automations (cron, GitHub, GitLab, Slack, Sentry and custom-webhook triggered
runs of a prompt in an environment), manual triggers, and execution history.

Scope: automations are org-owned unless created with `scope="user"` (personal keys only); an org key
neither sees nor touches personal ones. `list(scope="user" | "all")` widens what a personal key sees.

`update` sends only the fields passed (see `_fields.py`): None clears a field the contract lets be null
(`model=None` inherits the default again); None for any other field (`description`, `workspace_size`,
`config`, ...) is refused before sending, since the API cannot store null there.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from croniter import croniter
from pydantic import ValidationError

from replicas_mcp.client._envelope import unwrap
from replicas_mcp.client._fields import UNSET, Unset, patch_body, request_body
from replicas_mcp.client._http import api_path
from replicas_mcp.client._pagination import iter_pages
from replicas_mcp.client._resource import Resource
from replicas_mcp.client.errors import RequestValidationError
from replicas_mcp.client.models.automations import (
    Automation,
    AutomationExecution,
    AutomationPage,
    AutomationTrigger,
    CronTriggerConfig,
    ExecutionPage,
    TriggerResult,
)

__all__ = ["Automations", "TriggerInput"]

TriggerInput = AutomationTrigger | Mapping[str, Any]
"""A trigger as a model (e.g. `AutomationTrigger.cron("0 9 * * 1-5")`) or as its wire dict."""

MAX_PAGE_SIZE = 100
_DEBOUNCE_RANGE = (0, 86_400)
_AUTO_STOP_RANGE = (3, 1_440)
# UpdateAutomationRequest's nullable fields: None clears them (sent as null); others refuse None.
_UPDATE_NULLABLE = frozenset(
    {
        "debounce_seconds",
        "workspace_auto_stop_minutes",
        "agent_provider",
        "model",
        "thinking_level",
        "goal_mode",
        "fast_mode",
    }
)


def _check_page(page: int, limit: int) -> None:
    if page < 1:
        raise RequestValidationError(f"page must be >= 1, got {page}", field="page")
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise RequestValidationError(
            f"limit must be between 1 and {MAX_PAGE_SIZE}, got {limit}", field="limit"
        )


def _check_range(field: str, value: int | None, bounds: tuple[int, int]) -> None:
    low, high = bounds
    if value is not None and not low <= value <= high:
        raise RequestValidationError(f"{field} must be between {low} and {high}, got {value}", field=field)


def _parse_trigger(trigger: TriggerInput) -> AutomationTrigger:
    if isinstance(trigger, AutomationTrigger):
        return trigger
    try:
        return AutomationTrigger.model_validate(dict(trigger))
    except ValidationError as exc:
        raise RequestValidationError(f"invalid trigger {dict(trigger)!r}: {exc}", field="triggers") from None


def _triggers_body(triggers: Sequence[TriggerInput]) -> list[dict[str, Any]]:
    """The wire form of the triggers, after the checks the API would make: a known type's config has
    its required fields, a cron schedule parses, at most one cron trigger and one trigger per event."""
    if isinstance(triggers, str | bytes | Mapping):
        raise RequestValidationError("triggers must be a list of triggers", field="triggers")
    parsed = [_parse_trigger(trigger) for trigger in triggers]
    seen: set[tuple[str, str]] = set()
    for trigger in parsed:
        config = trigger.config
        event = getattr(config, "event", None)
        if trigger.type in ("github", "gitlab", "slack", "sentry") and not event:
            raise RequestValidationError(f"a {trigger.type} trigger needs config.event", field="triggers")
        if trigger.type == "cron":
            if not isinstance(config, CronTriggerConfig):
                raise RequestValidationError("a cron trigger needs config.schedule", field="triggers")
            if not croniter.is_valid(config.schedule):
                raise RequestValidationError(
                    f"cron schedule {config.schedule!r} is not a valid cron expression", field="triggers"
                )
        identity = (trigger.type, "" if trigger.type == "cron" else str(event))
        if identity in seen:
            what = "cron trigger" if trigger.type == "cron" else f"trigger for {event!r}"
            raise RequestValidationError(f"more than one {what}", field="triggers")
        seen.add(identity)
    return [trigger.model_dump(mode="json", exclude_none=True) for trigger in parsed]


def _check_automation_fields(body: Mapping[str, Any]) -> None:
    """Checks shared by create and update, on the fields present in the body."""
    if "name" in body and (not isinstance(body["name"], str) or not body["name"].strip()):
        raise RequestValidationError("name must be a non-empty string", field="name")
    if "prompt" in body and (not isinstance(body["prompt"], str) or not body["prompt"].strip()):
        raise RequestValidationError("prompt must be a non-empty string", field="prompt")
    _check_range("debounce_seconds", body.get("debounce_seconds"), _DEBOUNCE_RANGE)
    _check_range("workspace_auto_stop_minutes", body.get("workspace_auto_stop_minutes"), _AUTO_STOP_RANGE)


class Automations(Resource):
    """Automations, their manual triggers and their executions."""

    async def list(
        self,
        *,
        page: int = 1,
        limit: int = 20,
        trigger_type: str | None = None,
        enabled: bool | None = None,
        search: str | None = None,
        scope: str | None = None,
    ) -> AutomationPage:
        """One page (`totalPages` says how many); filters: trigger type, enabled, name substring, scope."""
        _check_page(page, limit)
        params = {
            "page": page,
            "limit": limit,
            "trigger_type": trigger_type,
            "enabled": enabled,
            "search": search,
            "scope": scope,
        }
        data = await self._http.request_json("GET", "/v1/automations", params=params)
        return AutomationPage.model_validate(data)

    async def iter(
        self,
        *,
        trigger_type: str | None = None,
        enabled: bool | None = None,
        search: str | None = None,
        scope: str | None = None,
        page_size: int = 50,
    ) -> AsyncIterator[Automation]:
        """Every automation matching the filters, page by page (each one once, even if pages shift)."""

        async def fetch(page: int) -> tuple[list[Automation], int]:
            result = await self.list(
                page=page,
                limit=page_size,
                trigger_type=trigger_type,
                enabled=enabled,
                search=search,
                scope=scope,
            )
            return result.automations, result.totalPages

        seen: set[str] = set()
        async for automation in iter_pages(fetch):
            # Offset pages shift when automations are created meanwhile: never yield one twice.
            if automation.id not in seen:
                seen.add(automation.id)
                yield automation

    async def get(self, automation_id: str) -> Automation:
        data = await self._http.request_json("GET", api_path("/v1/automations/{}", automation_id))
        return Automation.model_validate(unwrap(data, "automation"))

    async def create(
        self,
        *,
        name: str,
        prompt: str,
        environment_id: str,
        triggers: Sequence[TriggerInput],
        description: str | Unset | None = UNSET,
        scope: str | Unset | None = UNSET,
        enabled: bool | Unset | None = UNSET,
        debounce_seconds: int | Unset | None = UNSET,
        workspace_lifecycle_policy: str | Unset | None = UNSET,
        workspace_auto_stop_minutes: int | Unset | None = UNSET,
        workspace_size: str | Unset | None = UNSET,
        config: Mapping[str, Any] | Unset | None = UNSET,
        agent_provider: str | Unset | None = UNSET,
        model: str | Unset | None = UNSET,
        thinking_level: str | Unset | None = UNSET,
        plan_mode: bool | Unset | None = UNSET,
        goal_mode: bool | Unset | None = UNSET,
        fast_mode: bool | Unset | None = UNSET,
    ) -> Automation:
        """A new automation (org-owned unless `scope="user"`); None fields take the API's defaults."""
        if not triggers:
            raise RequestValidationError("an automation needs at least one trigger", field="triggers")
        if model and not agent_provider:
            raise RequestValidationError(
                "model needs agent_provider (models are per provider)", field="model"
            )
        body = request_body(
            name=name,
            prompt=prompt,
            environment_id=environment_id,
            description=description,
            scope=scope,
            enabled=enabled,
            debounce_seconds=debounce_seconds,
            workspace_lifecycle_policy=workspace_lifecycle_policy,
            workspace_auto_stop_minutes=workspace_auto_stop_minutes,
            workspace_size=workspace_size,
            config=dict(config) if isinstance(config, Mapping) else config,
            agent_provider=agent_provider,
            model=model,
            thinking_level=thinking_level,
            plan_mode=plan_mode,
            goal_mode=goal_mode,
            fast_mode=fast_mode,
        )
        _check_automation_fields(body)
        body["triggers"] = _triggers_body(triggers)
        data = await self._http.request_json("POST", "/v1/automations", json=body)
        return Automation.model_validate(unwrap(data, "automation"))

    async def update(
        self,
        automation_id: str,
        *,
        name: str | Unset = UNSET,
        prompt: str | Unset = UNSET,
        description: str | Unset = UNSET,
        triggers: Sequence[TriggerInput] | Unset = UNSET,
        environment_id: str | Unset = UNSET,
        enabled: bool | Unset = UNSET,
        debounce_seconds: int | Unset | None = UNSET,
        workspace_lifecycle_policy: str | Unset = UNSET,
        workspace_auto_stop_minutes: int | Unset | None = UNSET,
        workspace_size: str | Unset = UNSET,
        config: Mapping[str, Any] | Unset = UNSET,
        agent_provider: str | Unset | None = UNSET,
        model: str | Unset | None = UNSET,
        thinking_level: str | Unset | None = UNSET,
        plan_mode: bool | Unset = UNSET,
        goal_mode: bool | Unset | None = UNSET,
        fast_mode: bool | Unset | None = UNSET,
    ) -> Automation:
        """PATCH only the fields passed; omitted ones are unchanged.

        None clears the fields the contract lets be null (debounce_seconds, workspace_auto_stop_minutes,
        agent_provider, model, thinking_level, goal_mode, fast_mode); None for any other field raises
        `RequestValidationError` (nothing is sent).

        Changing `agent_provider` without a new `model` clears the stored model (the API's rule).
        """
        body = patch_body(
            nullable=_UPDATE_NULLABLE,
            name=name,
            prompt=prompt,
            description=description,
            environment_id=environment_id,
            enabled=enabled,
            debounce_seconds=debounce_seconds,
            workspace_lifecycle_policy=workspace_lifecycle_policy,
            workspace_auto_stop_minutes=workspace_auto_stop_minutes,
            workspace_size=workspace_size,
            config=dict(config) if isinstance(config, Mapping) else config,
            agent_provider=agent_provider,
            model=model,
            thinking_level=thinking_level,
            plan_mode=plan_mode,
            goal_mode=goal_mode,
            fast_mode=fast_mode,
        )
        _check_automation_fields(body)
        if triggers is None:
            raise RequestValidationError("triggers cannot be cleared; pass the new list", field="triggers")
        if not isinstance(triggers, Unset):
            if not triggers:
                raise RequestValidationError("an automation needs at least one trigger", field="triggers")
            body["triggers"] = _triggers_body(triggers)
        if not body:
            raise RequestValidationError("nothing to update: pass at least one field")
        data = await self._http.request_json(
            "PATCH", api_path("/v1/automations/{}", automation_id), json=body
        )
        return Automation.model_validate(unwrap(data, "automation"))

    async def delete(self, automation_id: str) -> None:
        """Delete the automation and its execution history."""
        await self._http.request_json("DELETE", api_path("/v1/automations/{}", automation_id))

    async def trigger(
        self,
        automation_id: str,
        payload: Mapping[str, Any] | Unset | None = UNSET,
        *,
        pr: Mapping[str, Any] | Unset | None = UNSET,
    ) -> TriggerResult:
        """Run it now: cron-triggered automations (or a `pull_request.command` one against `pr`).

        Not retried once sent (each call starts a new execution and workspace).
        """
        body = request_body(
            payload=dict(payload) if isinstance(payload, Mapping) else payload,
            pr=dict(pr) if isinstance(pr, Mapping) else pr,
        )
        data = await self._http.request_json(
            "POST", api_path("/v1/automations/{}/trigger", automation_id), json=body
        )
        return TriggerResult.model_validate(data)

    async def executions(self, automation_id: str, *, page: int = 1, limit: int = 20) -> ExecutionPage:
        """One page of the automation's executions."""
        _check_page(page, limit)
        data = await self._http.request_json(
            "GET",
            api_path("/v1/automations/{}/executions", automation_id),
            params={"page": page, "limit": limit},
        )
        return ExecutionPage.model_validate(data)

    async def iter_executions(
        self, automation_id: str, *, page_size: int = 50
    ) -> AsyncIterator[AutomationExecution]:
        """Every execution of the automation, page by page (each one once)."""

        async def fetch(page: int) -> tuple[list[AutomationExecution], int]:
            result = await self.executions(automation_id, page=page, limit=page_size)
            return result.executions, result.totalPages

        seen: set[str] = set()
        async for execution in iter_pages(fetch):
            if execution.id not in seen:
                seen.add(execution.id)
                yield execution
