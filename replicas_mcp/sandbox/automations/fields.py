"""Parsing and validation of automation request bodies (create and PATCH).

PATCH follows the guide: only fields present change; `null` clears a nullable field (description,
debounce_seconds, workspace_auto_stop_minutes, agent_provider, model, thinking_level, goal_mode,
fast_mode); changing `agent_provider` without sending `model` clears the stored model. The resulting
provider/model/thinking combination is validated as a whole (see coding_agents.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from replicas_mcp.sandbox import coding_agents
from replicas_mcp.sandbox.automations import triggers
from replicas_mcp.sandbox.http import (
    expect_bool,
    expect_choice,
    expect_int,
    expect_object,
    expect_optional_bool,
    expect_optional_str,
    expect_str,
    not_null,
    require,
)
from replicas_mcp.sandbox.launcher import LIFECYCLE_POLICIES, SIZES

NAME_MAX = 200
PROMPT_MAX = 100_000

KnownRepository = Callable[[str], bool]


def workspace_config(value: Any) -> dict[str, Any]:
    """The WorkspaceConfig snapshot; automations default `capabilities.pr_followups` to false."""
    config = dict(expect_object(value, "config"))
    for section in ("capabilities", "preferences"):
        if section in config:
            config[section] = dict(expect_object(config[section], f"config.{section}"))
    capabilities = config.setdefault("capabilities", {})
    capabilities["pr_followups"] = expect_bool(
        capabilities.get("pr_followups", False), "config.capabilities.pr_followups"
    )
    return config


def _debounce(value: Any) -> int | None:
    return None if value is None else expect_int(value, "debounce_seconds", minimum=0, maximum=86_400)


def _auto_stop(value: Any) -> int | None:
    return (
        None if value is None else expect_int(value, "workspace_auto_stop_minutes", minimum=3, maximum=1440)
    )


def create_fields(body: dict[str, Any], known: KnownRepository) -> dict[str, Any]:
    """Every automation field except scope/environment (resolved by the store), validated, with defaults."""
    agent_provider = coding_agents.provider(body.get("agent_provider"))
    thinking_level = coding_agents.thinking_level(body.get("thinking_level"))
    return {
        "name": expect_str(require(body, "name"), "name", max_length=NAME_MAX).strip(),
        "description": expect_optional_str(body.get("description"), "description"),
        "triggers": triggers.triggers(require(body, "triggers"), known),
        "prompt": expect_str(require(body, "prompt"), "prompt", max_length=PROMPT_MAX),
        "debounce_seconds": _debounce(body.get("debounce_seconds")),
        "enabled": expect_bool(body.get("enabled", True), "enabled"),
        "workspace_lifecycle_policy": expect_choice(
            body.get("workspace_lifecycle_policy", "default"),
            "workspace_lifecycle_policy",
            LIFECYCLE_POLICIES,
        ),
        "workspace_auto_stop_minutes": _auto_stop(body.get("workspace_auto_stop_minutes")),
        "workspace_size": expect_choice(body.get("workspace_size", "small"), "workspace_size", SIZES),
        "config": workspace_config(body.get("config", {})),
        "agent_provider": agent_provider,
        "model": coding_agents.check_combination(agent_provider, body.get("model"), thinking_level),
        "thinking_level": thinking_level,
        "plan_mode": expect_bool(body.get("plan_mode", False), "plan_mode"),
        "goal_mode": expect_optional_bool(body.get("goal_mode"), "goal_mode"),
        "fast_mode": expect_optional_bool(body.get("fast_mode"), "fast_mode"),
    }


def patch_fields(body: dict[str, Any], current: dict[str, Any], known: KnownRepository) -> dict[str, Any]:
    """The changed fields (environment_id excepted) of a PATCH body, validated against the current values."""
    changes: dict[str, Any] = {}
    if "name" in body:
        changes["name"] = expect_str(not_null(body, "name"), "name", max_length=NAME_MAX).strip()
    if "description" in body:
        changes["description"] = expect_optional_str(body["description"], "description")
    if "triggers" in body:
        changes["triggers"] = triggers.triggers(not_null(body, "triggers"), known)
    if "prompt" in body:
        changes["prompt"] = expect_str(not_null(body, "prompt"), "prompt", max_length=PROMPT_MAX)
    if "debounce_seconds" in body:
        changes["debounce_seconds"] = _debounce(body["debounce_seconds"])
    if "enabled" in body:
        changes["enabled"] = expect_bool(not_null(body, "enabled"), "enabled")
    if "workspace_lifecycle_policy" in body:
        policy = not_null(body, "workspace_lifecycle_policy")
        changes["workspace_lifecycle_policy"] = expect_choice(
            policy, "workspace_lifecycle_policy", LIFECYCLE_POLICIES
        )
    if "workspace_auto_stop_minutes" in body:
        changes["workspace_auto_stop_minutes"] = _auto_stop(body["workspace_auto_stop_minutes"])
    if "workspace_size" in body:
        changes["workspace_size"] = expect_choice(not_null(body, "workspace_size"), "workspace_size", SIZES)
    if "config" in body:
        changes["config"] = workspace_config(not_null(body, "config"))
    if "plan_mode" in body:
        changes["plan_mode"] = expect_bool(not_null(body, "plan_mode"), "plan_mode")
    for field in ("goal_mode", "fast_mode"):
        if field in body:
            changes[field] = expect_optional_bool(body[field], field)
    changes.update(_agent_changes(body, current))
    return changes


def _agent_changes(body: dict[str, Any], current: dict[str, Any]) -> dict[str, Any]:
    touched = [field for field in ("agent_provider", "model", "thinking_level") if field in body]
    if not touched:
        return {}
    agent_provider = (
        coding_agents.provider(body["agent_provider"])
        if "agent_provider" in body
        else current["agent_provider"]
    )
    level = (
        coding_agents.thinking_level(body["thinking_level"])
        if "thinking_level" in body
        else current["thinking_level"]
    )
    if "model" in body:
        model = body["model"]
    elif agent_provider != current["agent_provider"]:
        model = None  # the old model may not exist for the new provider (guide)
    else:
        model = current["model"]
    model = coding_agents.check_combination(agent_provider, model, level)
    return {"agent_provider": agent_provider, "model": model, "thinking_level": level}
