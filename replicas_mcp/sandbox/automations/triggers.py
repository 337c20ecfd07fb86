"""Validation of automation triggers (the spec's `AutomationTrigger` and its per-type configs).

Rules (each failure is a 400 that names the trigger by its position, e.g. `triggers[1].config.event`):

- `triggers` is a non-empty list of `{type, config}`; `type` is one of cron, github, gitlab, slack,
  sentry, custom; `config` is an object (`{}` for custom, which may also omit it). Unknown config keys
  are rejected so typos do not silently disable a filter.
- cron: `schedule` is a standard 5-field cron expression that croniter accepts (no seconds field);
  `timezone` is an IANA name known to zoneinfo (default `UTC`).
- github: `event` in pull_request.opened|synchronize|merged|closed|command; gitlab: merge_request.opened|
  updated|merged|closed. Optional `repository_ids` must be repositories of the organization; optional
  `group_pr_events` (bool) and `excluded_actors` (list of usernames).
- slack: `event` = message, optional `channel_ids`, `group_thread_replies` (default true).
- sentry: `event` in event_alert.triggered|issue.created|error.created, optional `project_slugs`,
  `min_level` in debug|info|warning|error|fatal.
- At most one cron trigger, at most one custom trigger, and at most one trigger per event.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from replicas_mcp.sandbox.errors import bad_request
from replicas_mcp.sandbox.http import (
    expect_bool,
    expect_choice,
    expect_object,
    expect_str,
    expect_str_list,
    reject_unknown,
)

TRIGGER_TYPES = ("cron", "github", "gitlab", "slack", "sentry", "custom")
GITHUB_EVENTS = (
    "pull_request.opened",
    "pull_request.synchronize",
    "pull_request.merged",
    "pull_request.closed",
    "pull_request.command",
)
GITLAB_EVENTS = (
    "merge_request.opened",
    "merge_request.updated",
    "merge_request.merged",
    "merge_request.closed",
)
SLACK_EVENTS = ("message",)
SENTRY_EVENTS = ("event_alert.triggered", "issue.created", "error.created")
SENTRY_LEVELS = ("debug", "info", "warning", "error", "fatal")

KnownRepository = Callable[[str], bool]


def cron_schedule(value: Any, where: str) -> str:
    schedule = " ".join(expect_str(value, f"{where}.schedule").split())
    if len(schedule.split(" ")) != 5 or not croniter.is_valid(schedule):
        raise bad_request(
            f"Invalid field '{where}.schedule'",
            f"{schedule!r} is not a valid cron expression. Use 5 fields: minute hour day-of-month month "
            "day-of-week, e.g. '0 9 * * 1-5' for weekdays at 09:00.",
        )
    return schedule


def timezone_name(value: Any, where: str) -> str:
    name = expect_str(value, f"{where}.timezone")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise bad_request(
            f"Invalid field '{where}.timezone'",
            f"{name!r} is not an IANA time zone; use a name such as 'UTC' or 'America/New_York'.",
        ) from None
    return name


def next_fire(schedule: str, timezone: str, now: datetime) -> datetime:
    """The next time a cron schedule fires after `now` (an aware datetime), in UTC."""
    local_now = now.astimezone(ZoneInfo(timezone))
    fire: datetime = croniter(schedule, local_now).get_next(datetime)
    return fire


def _repository_ids(value: Any, where: str, known: KnownRepository) -> list[str]:
    ids = expect_str_list(value, f"{where}.repository_ids")
    unknown = [rid for rid in ids if not known(rid)]
    if unknown:
        raise bad_request(
            f"Invalid field '{where}.repository_ids'",
            f"Unknown repository id(s) {', '.join(unknown)}; list them with GET /v1/replica/repositories.",
        )
    return ids


def _event_config(
    kind: str, config: dict[str, Any], where: str, events: tuple[str, ...], known: KnownRepository
) -> dict[str, Any]:
    reject_unknown(config, where, ("event", "repository_ids", "group_pr_events", "excluded_actors"))
    if "event" not in config:
        raise bad_request(
            f"Missing required field '{where}.event'",
            f"A {kind} trigger needs an event: {', '.join(events)}.",
        )
    result: dict[str, Any] = {"event": expect_choice(config["event"], f"{where}.event", events)}
    if config.get("repository_ids") is not None:
        result["repository_ids"] = _repository_ids(config["repository_ids"], where, known)
    if config.get("group_pr_events") is not None:
        result["group_pr_events"] = expect_bool(config["group_pr_events"], f"{where}.group_pr_events")
    if config.get("excluded_actors") is not None:
        result["excluded_actors"] = expect_str_list(config["excluded_actors"], f"{where}.excluded_actors")
    return result


def _one(trigger: Any, index: int, known: KnownRepository) -> dict[str, Any]:
    where = f"triggers[{index}]"
    item = expect_object(trigger, where)
    if item.get("type") not in TRIGGER_TYPES:
        raise bad_request(
            f"Invalid field '{where}.type'", f"Trigger type must be one of: {', '.join(TRIGGER_TYPES)}."
        )
    kind = str(item["type"])
    raw_config = item.get("config")
    if raw_config is None and kind != "custom":
        raise bad_request(
            f"Missing required field '{where}.config'", f"A {kind} trigger needs a config object."
        )
    config = expect_object(raw_config if raw_config is not None else {}, f"{where}.config")
    where = f"{where}.config"
    if kind == "cron":
        reject_unknown(config, where, ("schedule", "timezone"))
        if "schedule" not in config:
            raise bad_request(
                f"Missing required field '{where}.schedule'", "A cron trigger needs a schedule."
            )
        timezone = timezone_name(config["timezone"], where) if config.get("timezone") is not None else "UTC"
        return {
            "type": kind,
            "config": {"schedule": cron_schedule(config["schedule"], where), "timezone": timezone},
        }
    if kind == "github":
        return {"type": kind, "config": _event_config("GitHub", config, where, GITHUB_EVENTS, known)}
    if kind == "gitlab":
        return {"type": kind, "config": _event_config("GitLab", config, where, GITLAB_EVENTS, known)}
    if kind == "slack":
        reject_unknown(config, where, ("event", "channel_ids", "group_thread_replies"))
        result: dict[str, Any] = {"event": expect_choice(config.get("event"), f"{where}.event", SLACK_EVENTS)}
        if config.get("channel_ids") is not None:
            result["channel_ids"] = expect_str_list(config["channel_ids"], f"{where}.channel_ids")
        replies = config.get("group_thread_replies")
        result["group_thread_replies"] = (
            True if replies is None else expect_bool(replies, f"{where}.group_thread_replies")
        )
        return {"type": kind, "config": result}
    if kind == "sentry":
        reject_unknown(config, where, ("event", "project_slugs", "min_level"))
        result = {"event": expect_choice(config.get("event"), f"{where}.event", SENTRY_EVENTS)}
        if config.get("project_slugs") is not None:
            result["project_slugs"] = expect_str_list(config["project_slugs"], f"{where}.project_slugs")
        if config.get("min_level") is not None:
            result["min_level"] = expect_choice(config["min_level"], f"{where}.min_level", SENTRY_LEVELS)
        return {"type": kind, "config": result}
    reject_unknown(config, where, ())
    return {"type": kind, "config": {}}


def triggers(value: Any, known: KnownRepository) -> list[dict[str, Any]]:
    """Validated, normalized triggers (defaults filled in) or a 400."""
    if not isinstance(value, list) or not value:
        raise bad_request(
            "Invalid field 'triggers'",
            "'triggers' must be a non-empty list, e.g. "
            '[{"type": "cron", "config": {"schedule": "0 9 * * 1-5"}}].',
        )
    result = [_one(trigger, index, known) for index, trigger in enumerate(value)]
    seen: set[str] = set()
    for trigger in result:
        key = (
            trigger["type"]
            if trigger["type"] in ("cron", "custom")
            else f"{trigger['type']}:{trigger['config']['event']}"
        )
        if key in seen:
            what = (
                f"{trigger['type']} trigger"
                if ":" not in key
                else f"trigger for {trigger['config']['event']}"
            )
            raise bad_request("Duplicate trigger", f"An automation may have at most one {what}.")
        seen.add(key)
    return result
