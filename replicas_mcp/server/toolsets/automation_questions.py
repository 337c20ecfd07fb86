"""What the automation tools ask before a change to what future replicas run, and the checks that fail a
call before anyone is asked.

Creating an automation starts replicas on every trigger, so it is always asked (issue 12 #5); changing what
one runs (prompt, environment, triggers, agent, model) or re-enabling it is asked with the before and after.
Before asking, everything the API would reject is checked: the fields a create needs, that the automation
and the environment exist, and the triggers as the contract describes them (a cron `schedule` is five
fields croniter accepts, a `timezone` is an IANA name, an event is one of its type's events, at most one
cron, one custom and one trigger per event). Questions name the automation and the environment by name
and id.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter
from mcp.server.mcpserver.exceptions import ToolError

from replicas_mcp.client.errors import NotFoundError
from replicas_mcp.server.safety import clean_text, truncate
from replicas_mcp.server.tools import named

if TYPE_CHECKING:
    from replicas_mcp.server.tools import PendingCall

# The events each trigger type listens for (the contract's `*TriggerConfig.event` enums).
EVENTS: dict[str, tuple[str, ...]] = {
    "github": (
        "pull_request.opened",
        "pull_request.synchronize",
        "pull_request.merged",
        "pull_request.closed",
        "pull_request.command",
    ),
    "gitlab": (
        "merge_request.opened",
        "merge_request.updated",
        "merge_request.merged",
        "merge_request.closed",
    ),
    "slack": ("message",),
    "sentry": ("event_alert.triggered", "issue.created", "error.created"),
}
CREATE_NEEDS = ("name", "prompt", "environment_id", "triggers")
# What a run does: a change to any of these changes what future replicas are started with, and when.
_RUN_FIELDS = ("prompt", "environment_id", "triggers", "agent_provider", "model")


async def ask_save_automation(call: PendingCall) -> str | None:
    """Creating an automation, or changing what it runs (or re-enabling it), starts future replicas: ask,
    with the before and after. Renaming or pausing asks nothing."""
    args = {key: value for key, value in call.arguments.items() if value is not None}
    triggers = [_plain(t) for t in args.get("triggers", ())]
    check_triggers(triggers)
    if "triggers" in args:
        args["triggers"] = _triggers_text(triggers)
    if "automation_id" not in args:
        missing = [key for key in CREATE_NEEDS if key not in args]
        if missing:
            raise ToolError(f"Creating an automation needs {', '.join(missing)} (or pass automation_id).")
        environment = await _environment_named(call, args["environment_id"])
        return (
            f"Create automation {_quoted(args['name'])}? On each trigger ({args['triggers']}) it starts a "
            f"replica in environment {environment} with the prompt {_quoted(args['prompt'])}."
        )
    current = await call.client.automations.get(args["automation_id"])
    # Every run field as the automation has it (the record carries them all; None: the default), so a field
    # passed with the value it already has is not a change.
    before: dict[str, Any] = {
        "prompt": current.prompt,
        "environment_id": current.environment_id,
        "triggers": _triggers_text([_plain(t) for t in current.triggers]),
        "agent_provider": current.agent_provider,
        "model": current.model,
    }
    if "environment_id" in args and args["environment_id"] != current.environment_id:
        args["environment_id"] = await _environment_named(call, args["environment_id"])
        if current.environment_id:
            before["environment_id"] = await _environment_named(call, current.environment_id, gone_ok=True)
    changes = [
        f"{key}: {_shown(before[key])} → {_quoted(args[key])}"
        for key in _RUN_FIELDS
        if key in args and before[key] != args[key]
    ]
    # A new agent without a model clears the stored one (guide: it may not exist for the new agent).
    new_agent = "agent_provider" in args and args["agent_provider"] != current.agent_provider
    if new_agent and "model" not in args and current.model is not None:
        changes.append(f"model: {_quoted(current.model)} → (default)")
    if args.get("enabled") is True and current.enabled is False:
        changes.append("enabled: paused → running")
    if not changes:
        return None
    return f"Change automation {named(current.name, current.id)}? " + "; ".join(changes) + "."


async def ask_delete_automation(call: PendingCall) -> str | None:
    try:
        automation = await call.client.automations.get(call.arguments["automation_id"])
    except NotFoundError:
        return None  # nothing to lose: the delete says so itself, without asking first
    return f"Delete automation {named(automation.name, automation.id)}? Its triggers stop firing."


def check_triggers(triggers: list[dict[str, Any]]) -> None:
    """A ToolError naming the first trigger the API would reject, and what to pass instead."""
    seen: set[str] = set()
    for index, trigger in enumerate(triggers):
        kind, config = str(trigger.get("type")), trigger.get("config") or {}
        where = f"triggers[{index}].config"
        if kind == "cron":
            _check_cron(config, where)
            key = kind
        elif kind == "custom":
            if config:
                raise ToolError(f"{where} must be empty for a custom (webhook) trigger: pass {{}}.")
            key = kind
        else:
            events = EVENTS.get(kind, ())
            if config.get("event") not in events:
                raise ToolError(
                    f"{where}.event: a {kind} trigger needs an event, one of {', '.join(events)}."
                )
            key = f"{kind} {config['event']}"
        if key in seen:
            raise ToolError(f"triggers[{index}] repeats a {key} trigger: an automation has at most one.")
        seen.add(key)


def _check_cron(config: dict[str, Any], where: str) -> None:
    schedule = config.get("schedule")
    # The value is not repeated: argument errors never quote what was passed (it may be anything).
    if not isinstance(schedule, str) or len(schedule.split()) != 5 or not croniter.is_valid(schedule):
        raise ToolError(
            f"{where}.schedule is not a cron expression: pass 5 fields, minute hour day-of-month month "
            "day-of-week, e.g. '0 9 * * 1-5' for weekdays at 09:00."
        )
    zone = config.get("timezone")
    if zone is not None:
        try:
            ZoneInfo(str(zone))
        except (ZoneInfoNotFoundError, ValueError):
            raise ToolError(
                f"{where}.timezone is not an IANA time zone: e.g. 'UTC', 'Europe/Berlin'."
            ) from None
    unknown = set(config) - {"schedule", "timezone"}
    if unknown:
        raise ToolError(f"{where} takes only schedule and timezone, not {', '.join(sorted(unknown))}.")


async def _environment_named(call: PendingCall, environment_id: str, *, gone_ok: bool = False) -> str:
    """`api (env-id)`; the environment must exist (an automation cannot run in one that does not)."""
    try:
        return named((await call.client.environments.get(environment_id)).name, environment_id)
    except NotFoundError:
        if gone_ok:
            return named(None, environment_id)
        raise ToolError(
            "No environment with that environment_id: an automation needs an existing one. "
            "See list_environments for their ids."
        ) from None


def _plain(trigger: Any) -> dict[str, Any]:
    """A trigger as `{type, config}` without nulls (the tool's `Trigger`, the client's, or a dict)."""
    data = trigger.model_dump() if hasattr(trigger, "model_dump") else dict(trigger)
    config = data.get("config") or {}
    return {"type": data.get("type"), "config": {k: v for k, v in dict(config).items() if v is not None}}


def _trigger_text(trigger: dict[str, Any]) -> str:
    """`cron 0 9 * * 1-5 (America/New_York)`, `github pull_request.opened`, `custom webhook`."""
    kind, config = trigger["type"], trigger["config"]
    if kind == "cron":
        zone = config.get("timezone")
        return f"cron {config.get('schedule')}" + (f" ({zone})" if zone else "")
    if "event" in config:
        return f"{kind} {config['event']}"
    return "custom webhook" if kind == "custom" else str(kind)


def _triggers_text(triggers: list[dict[str, Any]]) -> str:
    return ", ".join(_trigger_text(t) for t in triggers) or "none"


def _shown(value: Any) -> str:
    """A field's current value for a question: quoted, or `(default)` when the automation has none."""
    return "(default)" if value is None else _quoted(value)


def _quoted(value: Any) -> str:
    return repr(truncate(clean_text(str(value)), 160))
