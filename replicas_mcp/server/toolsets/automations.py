"""Automations: a prompt run in an environment on a schedule or on a GitHub/GitLab/Slack/Sentry event."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any, Literal

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field

from replicas_mcp.client.errors import BadRequestError
from replicas_mcp.client.models.automations import AutomationTrigger
from replicas_mcp.server.args import ENVIRONMENT, AutomationId, Id, PageNumber, PageSize, next_page
from replicas_mcp.server.safety import WORKSPACE, clean_text, truncate
from replicas_mcp.server.state import ToolContext, client_of
from replicas_mcp.server.tools import ToolGroup, ToolResult
from replicas_mcp.server.toolsets.automation_questions import (
    ask_delete_automation,
    ask_save_automation,
    check_triggers,
)
from replicas_mcp.server.views import Done, fenced_preview

if TYPE_CHECKING:
    from replicas_mcp.client import ReplicasClient
    from replicas_mcp.client.models.automations import Automation

tools = ToolGroup("automations")

PROMPT_LIMIT = 4000
Agent = Literal["claude", "codex", "cursor", "opencode"]


class Trigger(BaseModel):
    type: Literal["cron", "github", "gitlab", "slack", "sentry", "custom"]
    config: dict[str, Any] = Field(
        default_factory=dict,
        description='e.g. {"schedule":"0 9 * * 1-5"} (cron) or {"event":"pull_request.opened"}',
    )


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
    next_page: int | None = None


class Execution(BaseModel):
    id: str
    status: str | None = None
    replica_id: str | None = None
    replica_name: str | None = None
    triggered_at: str | None = None
    error: str | None = None


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
    runs: list[Execution] | None = None


class Triggered(ToolResult):
    automation: str  # "name (id)"
    execution_id: str
    replica_id: str | None = None
    replica_name: str | None = None
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
    page: PageNumber = 1,
    limit: PageSize = 20,
) -> AutomationList:
    """Automations (prompts run on a schedule or on repository events) and their triggers."""
    result = await client_of(ctx).automations.list(
        page=page, limit=limit, search=search, enabled=enabled, trigger_type=trigger_type
    )
    return AutomationList(
        automations=[summary(a) for a in result.automations],
        total=result.total,
        next_page=next_page(result.page, result.totalPages),
    )


@tools.tool(title="Get automation", read_only=True)
async def get_automation(
    ctx: ToolContext,
    automation_id: AutomationId,
    runs: Annotated[int, Field(ge=0, le=100, description="Also its newest runs, up to this many")] = 0,
) -> AutomationView:
    """An automation's prompt, triggers, environment and agent; with runs=N its newest runs (status, the
    replica each started, errors)."""
    client = client_of(ctx)
    view = automation_view(await client.automations.get(automation_id))
    if runs:
        result = await client.automations.executions(automation_id, page=1, limit=runs)
        names = await _replica_names(client, [ex.workspace_id for ex in result.executions])
        view.runs = [
            Execution(
                id=ex.id,
                status=ex.status,
                replica_id=ex.workspace_id,
                replica_name=names.get(ex.workspace_id or ""),
                triggered_at=ex.triggered_at,
                error=fenced_preview(ex.error, f"error of run {ex.id}", WORKSPACE),
            )
            for ex in result.executions
        ]
    return view


@tools.tool(
    title="Save automation",
    read_only=False,
    destructive=True,
    idempotent=False,
    confirm=ask_save_automation,
)
async def save_automation(
    ctx: ToolContext,
    automation_id: Annotated[Id | None, Field(description="Omit to create one")] = None,
    name: Annotated[str | None, Field(min_length=1, max_length=100)] = None,
    prompt: Annotated[str | None, Field(min_length=1, description="What the agent does each run")] = None,
    environment_id: Annotated[Id | None, ENVIRONMENT, Field(description="From list_environments")] = None,
    triggers: Annotated[
        list[Trigger] | None, Field(min_length=1, description="Replace all; ≤ 1 cron, 1 per event")
    ] = None,
    enabled: Annotated[bool | None, Field(description="false pauses it")] = None,
    agent_provider: Agent | None = None,
    model: str | None = None,
) -> AutomationSummary:
    """Create an automation (no automation_id; needs name, prompt, environment_id, triggers): each time
    a trigger fires, a new replica runs the prompt. With automation_id, change only the fields given."""
    fields: dict[str, Any] = {
        key: value
        for key, value in {
            "name": name,
            "prompt": prompt,
            "environment_id": environment_id,
            "enabled": enabled,
            "agent_provider": agent_provider,
            "model": model,
        }.items()
        if value is not None
    }
    if triggers is not None:
        fields["triggers"] = [t.model_dump() for t in triggers]
        check_triggers(fields["triggers"])  # the same error whether or not the user was asked first
    automations = client_of(ctx).automations
    if automation_id is not None:
        if not fields:
            raise ToolError("Nothing to change: pass at least one field (e.g. enabled=false).")
        return summary(await automations.update(automation_id, **fields))
    missing = [key for key in ("name", "prompt", "environment_id", "triggers") if key not in fields]
    if missing:
        raise ToolError(f"Creating an automation needs {', '.join(missing)} (or pass automation_id).")
    return summary(await automations.create(**fields))


@tools.tool(
    title="Delete automation",
    read_only=False,
    destructive=True,
    idempotent=True,
    confirm=ask_delete_automation,
)
async def delete_automation(ctx: ToolContext, automation_id: AutomationId) -> Done:
    """Delete an automation and its execution history (replicas it started stay)."""
    automations = client_of(ctx).automations
    name = (await automations.get(automation_id)).name
    await automations.delete(automation_id)
    return Done(message=f"Automation {name} ({automation_id}) deleted.")


@tools.tool(title="Trigger automation", read_only=False, destructive=False, idempotent=False)
async def trigger_automation(
    ctx: ToolContext,
    automation_id: AutomationId,
    payload: Annotated[
        dict[str, Any] | None, Field(description="Any JSON object, passed to the run as its event data")
    ] = None,
) -> Triggered:
    """Run a cron-triggered automation now; each call starts a new replica. Next: wait_for_replica."""
    client = client_of(ctx)
    automation = await client.automations.get(automation_id)  # its name, for the result
    try:
        result = await client.automations.trigger(automation_id, payload)
    except BadRequestError:
        if any(t.type == "cron" for t in automation.triggers):
            raise  # the API's own words (disabled, a bad payload) say what to do
        # The API adds "or, passing 'pr', …": an argument this tool does not have.
        runs_on = ", ".join(trigger_text(t) for t in automation.triggers) or "no trigger"
        raise ToolError(
            f"{clean_text(automation.name)} ({automation_id}) runs on {runs_on}, not on a schedule, so it "
            "cannot be run now: only automations with a cron trigger can. It runs when its event happens."
        ) from None
    note = (
        "Started: follow its replica with wait_for_replica, then get_replica_result."
        if result.workspace_id
        else "Queued: its replica appears in get_automation(runs=5) shortly."
    )
    names = await _replica_names(client, [result.workspace_id])
    return Triggered(
        automation=f"{automation.name} ({automation_id})",
        execution_id=result.execution_id,
        replica_id=result.workspace_id,
        replica_name=names.get(result.workspace_id or ""),
        note=note,
    )


async def _replica_names(client: ReplicasClient, ids: Sequence[str | None]) -> dict[str, str]:
    """The names of these replicas, from list reads (which wake nothing); one not found stays out."""
    names: dict[str, str] = {}
    for replica_id in dict.fromkeys(i for i in ids if i):
        item = await client.replicas.status(replica_id)
        if item is not None:
            names[replica_id] = item.name
    return names
