"""What the automation tools ask before a change to what future replicas run, and the checks that fail a
call before anyone is asked.

Creating an automation starts replicas on every trigger, so it is always asked (issue 12 #5); changing what
one runs (prompt, environment, triggers, agent, model) or re-enabling it is asked with the before and after.
Before asking, everything the API would reject is checked: the fields a create needs, that the automation
and the environment exist, and the triggers as the contract describes them (a cron `schedule` is five
fields croniter accepts, a `timezone` is an IANA name, an event is one of its type's events, at most one
cron, one custom and one trigger per event). Questions name the automation and the environment by name
and id.

Triggers are compared on every config field the contract defines (a repository, channel or project filter,
excluded actors, a minimum level, grouping), with only the defaults the contract states filled in (a cron
timezone is UTC, Slack thread replies are grouped), so re-saving the same triggers asks nothing and any
change to when or for what the automation fires is asked, trigger by trigger and field by field.
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
    if "automation_id" not in args:
        missing = [key for key in CREATE_NEEDS if key not in args]
        if missing:
            raise ToolError(f"Creating an automation needs {', '.join(missing)} (or pass automation_id).")
        environment = await _environment_named(call, args["environment_id"])
        return (
            f"Create automation {_quoted(args['name'])}? On each trigger ({_triggers_text(triggers)}) it "
            f"starts a replica in environment {environment} with the prompt {_quoted(args['prompt'])}."
        )
    current = await call.client.automations.get(args["automation_id"])
    # Every run field as the automation has it (the record carries them all; None: the default), so a field
    # passed with the value it already has is not a change.
    before: dict[str, Any] = {
        "prompt": current.prompt,
        "environment_id": current.environment_id,
        "agent_provider": current.agent_provider,
        "model": current.model,
    }
    if "environment_id" in args and args["environment_id"] != current.environment_id:
        args["environment_id"] = await _environment_named(call, args["environment_id"])
        if current.environment_id:
            before["environment_id"] = await _environment_named(call, current.environment_id, gone_ok=True)
    changes: list[str] = []
    for key in (k for k in _RUN_FIELDS if k in args):
        if key == "triggers":  # compared setting by setting (a text form would hide filters)
            changes += _trigger_changes([_plain(t) for t in current.triggers], triggers)
        elif before[key] != args[key]:
            changes.append(f"{key}: {_shown(before[key])} → {_quoted(args[key])}")
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
    if schedule is None:  # a valid expression under another key must not read as an invalid one
        got = f" (got {', '.join(sorted(map(str, config)))})" if config else ""
        raise ToolError(
            f"{where}.schedule is missing{got}: put the cron expression (5 fields, e.g. '0 9 * * 1-5') in "
            "schedule, and optionally an IANA timezone in timezone."
        )
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


# The defaults the contract states for trigger configs (`CronTriggerConfig.timezone`,
# `SlackTriggerConfig.group_thread_replies`): the API stores them when a trigger leaves them out, so leaving
# one out and passing it are the same setting. No other default is stated, so nothing else is filled in.
_TRIGGER_DEFAULTS: dict[str, dict[str, Any]] = {
    "cron": {"timezone": "UTC"},
    "slack": {"group_thread_replies": True},
}
# What an omitted filter means (the contract: "if omitted, fires for all ..."), for the questions.
_UNSET = {"repository_ids": "(all)", "channel_ids": "(all)", "project_slugs": "(all)", "min_level": "(all)"}


def _settings(trigger: dict[str, Any]) -> dict[str, Any]:
    """Every config field of a plain trigger, with the contract's defaults filled in: what it fires on."""
    return {**_TRIGGER_DEFAULTS.get(str(trigger["type"]), {}), **trigger["config"]}


def _trigger_key(trigger: dict[str, Any]) -> str:
    """What names a trigger within an automation (it has at most one per key): its type, and its event."""
    kind, event = str(trigger["type"]), trigger["config"].get("event")
    if kind == "custom":
        return "custom webhook"
    return kind if event is None else f"{kind} {event}"


def _trigger_text(trigger: dict[str, Any]) -> str:
    """`cron '0 9 * * 1-5' (America/New_York)`, `github pull_request.opened (excluded_actors [...])`."""
    settings, key = _settings(trigger), _trigger_key(trigger)
    if trigger["type"] == "cron":
        zone = truncate(clean_text(str(settings.pop("timezone"))), 60)
        shown = f"cron {_value(settings.pop('schedule', None))} ({zone})"
    else:
        shown = _label(key)
    settings.pop("event", None)
    for field, default in _TRIGGER_DEFAULTS.get(str(trigger["type"]), {}).items():
        if settings.get(field) == default:
            settings.pop(field)
    extra = ", ".join(f"{_label(field)} {_value(value)}" for field, value in settings.items())
    return f"{shown} ({extra})" if extra else shown


def _triggers_text(triggers: list[dict[str, Any]]) -> str:
    return ", ".join(_trigger_text(t) for t in triggers) or "none"


def _trigger_changes(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> list[str]:
    """What replacing the triggers changes, trigger by trigger and field by field (order is no change)."""
    old = {_trigger_key(t): t for t in before}
    new = {_trigger_key(t): t for t in after}
    changes: list[str] = []
    for key, trigger in new.items():
        if key not in old:
            changes.append(f"new trigger {_trigger_text(trigger)}")
            continue
        was, now = _settings(old[key]), _settings(trigger)
        fields = [
            f"{_label(field)} {_value(was.get(field), field)} → {_value(now.get(field), field)}"
            for field in [*was, *(f for f in now if f not in was)]
            if was.get(field) != now.get(field)
        ]
        if fields:
            changes.append(f"trigger {_label(key)}: " + ", ".join(fields))
    changes += [f"removed trigger {_trigger_text(t)}" for key, t in old.items() if key not in new]
    return changes


def _label(key: str) -> str:
    return truncate(clean_text(key), 80)


def _value(value: Any, field: str = "") -> str:
    """A trigger setting for a question: short, quoted where it is text; an omitted filter says so."""
    if value is None:
        return _UNSET.get(field, "(not set)")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        shown = ", ".join(_quoted(item) for item in value[:5])
        return f"[{shown}, … {len(value) - 5} more]" if len(value) > 5 else f"[{shown}]"
    return _quoted(value)


def _shown(value: Any) -> str:
    """A field's current value for a question: quoted, or `(default)` when the automation has none."""
    return "(default)" if value is None else _quoted(value)


def _quoted(value: Any) -> str:
    return repr(truncate(clean_text(str(value)), 160))
