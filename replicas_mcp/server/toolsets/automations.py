"""Automations: a prompt run in an environment on a schedule or on a GitHub/GitLab/Slack/Sentry event."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field

from replicas_mcp.server.args import AutomationId, EnvironmentId
from replicas_mcp.server.registry import ToolGroup, ToolResult
from replicas_mcp.server.safety import truncate
from replicas_mcp.server.state import ToolContext, client_of
from replicas_mcp.server.views import Done, preview

if TYPE_CHECKING:
    from replicas_mcp.client.models.automations import Automation, AutomationTrigger

tools = ToolGroup("automations")

PROMPT_LIMIT = 4000
Agent = Literal["claude", "codex", "cursor", "opencode"]


class Trigger(BaseModel):
    type: Literal["cron", "github", "gitlab", "slack", "sentry", "custom"]
    config: dict[str, Any] = Field(
        default_factory=dict,
        description='e.g. {"schedule":"0 9 * * 1-5"} (cron) or {"event":"pull_request.opened"}',
    )


Triggers = Annotated[list[Trigger], Field(min_length=1)]


class AutomationSummary(ToolResult):
    id: str
    name: str
    enabled: bool | None = None
    triggers: list[str]
    environment_id: str | None = None
    next_run: str | None = None


class AutomationList(ToolResult):
    automations: list[AutomationSummary]
    total: int
    page: int
    pages: int


class AutomationView(ToolResult):
    id: str
    name: str
    enabled: bool | None = None
    prompt: str | None = None
    triggers: list[str]
    environment_id: str | None = None
    next_run: str | None = None
    agent: str | None = None
    model: str | None = None
    has_webhook: bool = False


class Execution(BaseModel):
    id: str
    status: str | None = None
    replica_id: str | None = None
    triggered_at: str | None = None
    completed_at: str | None = None
    error: str | None = None


class ExecutionList(ToolResult):
    executions: list[Execution]
    total: int
    page: int
    pages: int


class Triggered(ToolResult):
    execution_id: str
    replica_id: str | None = None
    note: str


def trigger_text(trigger: AutomationTrigger) -> str:
    """`cron 0 9 * * 1-5 (America/New_York)`, `github pull_request.opened`, `custom webhook`."""
    config = trigger.config.model_dump(exclude_none=True)
    if trigger.type == "cron":
        zone = config.get("timezone")
        return f"cron {config.get('schedule')}" + (f" ({zone})" if zone else "")
    if "event" in config:
        return f"{trigger.type} {config['event']}"
    return "custom webhook" if trigger.type == "custom" else str(trigger.type)


def summary(automation: Automation) -> AutomationSummary:
    return AutomationSummary(
        id=automation.id,
        name=automation.name,
        enabled=automation.enabled,
        triggers=[trigger_text(t) for t in automation.triggers],
        environment_id=automation.environment_id,
        next_run=automation.cron_next_fire_at,
    )


def automation_view(automation: Automation) -> AutomationView:
    """The automation without its secret: the webhook token only shows as `has_webhook`."""
    return AutomationView(
        id=automation.id,
        name=automation.name,
        enabled=automation.enabled,
        prompt=truncate(automation.prompt, PROMPT_LIMIT) if automation.prompt else None,
        triggers=[trigger_text(t) for t in automation.triggers],
        environment_id=automation.environment_id,
        next_run=automation.cron_next_fire_at,
        agent=automation.agent_provider,
        model=automation.model,
        has_webhook=bool(automation.webhook_token),
    )


@tools.tool(title="List automations", read_only=True)
async def list_automations(
    ctx: ToolContext,
    search: Annotated[str | None, Field(description="Name contains")] = None,
    enabled: bool | None = None,
    trigger_type: Literal["cron", "github", "gitlab", "slack", "sentry", "custom"] | None = None,
    page: Annotated[int, Field(ge=1)] = 1,
    limit: Annotated[int, Field(ge=1, le=100)] = 20,
) -> AutomationList:
    """Automations (prompts run on a schedule or on repository events) and their triggers."""
    result = await client_of(ctx).automations.list(
        page=page, limit=limit, search=search, enabled=enabled, trigger_type=trigger_type
    )
    return AutomationList(
        automations=[summary(a) for a in result.automations],
        total=result.total,
        page=result.page,
        pages=result.totalPages,
    )


@tools.tool(title="Get automation", read_only=True)
async def get_automation(ctx: ToolContext, automation_id: AutomationId) -> AutomationView:
    """An automation's prompt, triggers, environment and agent. Next: list_automation_executions."""
    return automation_view(await client_of(ctx).automations.get(automation_id))


@tools.tool(title="Create automation", read_only=False, destructive=False, idempotent=False)
async def create_automation(
    ctx: ToolContext,
    name: Annotated[str, Field(min_length=1, max_length=100)],
    prompt: Annotated[str, Field(min_length=1, description="What the agent does each run")],
    environment_id: EnvironmentId,
    triggers: Triggers,
    enabled: bool | None = None,
    agent_provider: Agent | None = None,
    model: str | None = None,
) -> AutomationSummary:
    """Create an automation: whenever a trigger fires, a new replica runs `prompt` in the environment.
    At most one cron trigger, and one trigger per event."""
    automation = await client_of(ctx).automations.create(
        name=name,
        prompt=prompt,
        environment_id=environment_id,
        triggers=[t.model_dump() for t in triggers],
        enabled=enabled,
        agent_provider=agent_provider,
        model=model,
    )
    return summary(automation)


@tools.tool(title="Update automation", read_only=False, destructive=False, idempotent=True)
async def update_automation(
    ctx: ToolContext,
    automation_id: AutomationId,
    enabled: bool | None = None,
    name: Annotated[str | None, Field(min_length=1, max_length=100)] = None,
    prompt: Annotated[str | None, Field(min_length=1)] = None,
    triggers: Annotated[
        list[Trigger] | None, Field(min_length=1, description="Replaces all triggers")
    ] = None,
    environment_id: str | None = None,
    agent_provider: Agent | None = None,
    model: str | None = None,
) -> AutomationSummary:
    """Change an automation (only the fields given), e.g. enabled=false to pause it."""
    fields: dict[str, Any] = {
        key: value
        for key, value in {
            "enabled": enabled,
            "name": name,
            "prompt": prompt,
            "environment_id": environment_id,
            "agent_provider": agent_provider,
            "model": model,
        }.items()
        if value is not None
    }
    if triggers is not None:
        fields["triggers"] = [t.model_dump() for t in triggers]
    if not fields:
        raise ToolError("Nothing to update: pass at least one field (e.g. enabled=false).")
    return summary(await client_of(ctx).automations.update(automation_id, **fields))


@tools.tool(title="Delete automation", read_only=False, destructive=True, idempotent=True)
async def delete_automation(ctx: ToolContext, automation_id: AutomationId) -> Done:
    """Delete an automation and its execution history (replicas it started stay)."""
    await client_of(ctx).automations.delete(automation_id)
    return Done(id=automation_id, message=f"Automation {automation_id} deleted.")


@tools.tool(title="Trigger automation", read_only=False, destructive=False, idempotent=False)
async def trigger_automation(
    ctx: ToolContext,
    automation_id: AutomationId,
    payload: Annotated[dict[str, Any] | None, Field(description="Optional event data for the run")] = None,
) -> Triggered:
    """Run a cron-triggered automation now; each call starts a new replica. Next: read_replica_history."""
    result = await client_of(ctx).automations.trigger(automation_id, payload)
    note = (
        "Started; follow it with read_replica_history."
        if result.workspace_id
        else "Queued; its replica appears in list_automation_executions shortly."
    )
    return Triggered(execution_id=result.execution_id, replica_id=result.workspace_id, note=note)


@tools.tool(title="List automation executions", read_only=True)
async def list_automation_executions(
    ctx: ToolContext,
    automation_id: AutomationId,
    page: Annotated[int, Field(ge=1)] = 1,
    limit: Annotated[int, Field(ge=1, le=100)] = 20,
) -> ExecutionList:
    """An automation's runs, newest first: status, the replica each started, errors."""
    result = await client_of(ctx).automations.executions(automation_id, page=page, limit=limit)
    return ExecutionList(
        executions=[
            Execution(
                id=ex.id,
                status=ex.status,
                replica_id=ex.workspace_id,
                triggered_at=ex.triggered_at,
                completed_at=ex.completed_at,
                error=preview(ex.error),
            )
            for ex in result.executions
        ],
        total=result.total,
        page=result.page,
        pages=result.totalPages,
    )
