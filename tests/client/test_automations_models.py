"""Automation models against payloads shaped like the OpenAPI spec's examples."""

from __future__ import annotations

from typing import Any

from replicas_mcp.client.models.automations import (
    Automation,
    AutomationPage,
    AutomationTrigger,
    CronTriggerConfig,
    CustomTriggerConfig,
    ExecutionPage,
    GitHubTriggerConfig,
    TriggerConfig,
    TriggerResult,
)


def automation_payload(**overrides: Any) -> dict[str, Any]:
    return {
        "id": "a1",
        "organization_id": "o1",
        "name": "daily-code-review",
        "description": None,
        "triggers": [{"type": "cron", "config": {"schedule": "0 9 * * 1-5", "timezone": "America/New_York"}}],
        "prompt": "Review open PRs",
        "debounce_seconds": None,
        "environment_id": "e1",
        "enabled": True,
        "user_id": None,
        "webhook_token": None,
        "cron_expression": "0 9 * * 1-5",
        "cron_timezone": "America/New_York",
        "cron_next_fire_at": "2026-05-18T13:00:00Z",
        "created_by": None,
        "workspace_lifecycle_policy": "default",
        "workspace_auto_stop_minutes": None,
        "workspace_size": "small",
        "config": {},
        "agent_provider": None,
        "model": None,
        "thinking_level": None,
        "plan_mode": False,
        "goal_mode": None,
        "fast_mode": None,
        "created_at": "2026-05-17T09:00:00Z",
        "updated_at": "2026-05-17T09:00:00Z",
        **overrides,
    }


def test_automation_parses_spec_payload() -> None:
    automation = Automation.model_validate(automation_payload())
    assert automation.has_cron_trigger
    assert not automation.is_personal
    trigger = automation.triggers[0]
    assert isinstance(trigger.config, CronTriggerConfig)
    assert trigger.config.timezone == "America/New_York"


def test_open_enums_accept_unknown_values() -> None:
    automation = Automation.model_validate(
        automation_payload(workspace_size="huge", agent_provider="newagent", thinking_level="galaxy-brain")
    )
    assert automation.workspace_size == "huge"
    assert automation.agent_provider == "newagent"


def test_trigger_configs_typed_by_type_and_unknown_types_kept() -> None:
    github = AutomationTrigger.model_validate(
        {"type": "github", "config": {"event": "pull_request.opened", "excluded_actors": ["dependabot[bot]"]}}
    )
    assert isinstance(github.config, GitHubTriggerConfig)
    assert github.config.excluded_actors == ["dependabot[bot]"]
    custom = AutomationTrigger.model_validate({"type": "custom", "config": {}})
    assert isinstance(custom.config, CustomTriggerConfig)
    future = AutomationTrigger.model_validate({"type": "linear", "config": {"team": "ENG"}})
    assert type(future.config) is TriggerConfig
    assert future.model_dump() == {"type": "linear", "config": {"team": "ENG"}}


def test_trigger_constructors_dump_to_wire_form() -> None:
    assert AutomationTrigger.cron("0 9 * * 1-5", "UTC").model_dump(exclude_none=True) == {
        "type": "cron",
        "config": {"schedule": "0 9 * * 1-5", "timezone": "UTC"},
    }
    assert AutomationTrigger.github("pull_request.opened").model_dump(exclude_none=True) == {
        "type": "github",
        "config": {"event": "pull_request.opened"},
    }


def test_webhook_token_is_not_in_repr() -> None:
    automation = Automation.model_validate(automation_payload(webhook_token="whk_abcdef123456"))
    assert automation.webhook_token == "whk_abcdef123456"
    assert "whk_abcdef123456" not in repr(automation)


def test_pages_keep_wire_total_pages() -> None:
    page = AutomationPage.model_validate(
        {"automations": [automation_payload()], "total": 41, "page": 1, "limit": 20, "totalPages": 3}
    )
    assert page.totalPages == 3 == page.total_pages
    executions = ExecutionPage.model_validate(
        {
            "executions": [
                {"id": "x1", "automation_id": "a1", "status": "queued-for-later", "trigger_payload": {}}
            ],
            "total": 1,
            "page": 1,
            "limit": 20,
            "totalPages": 1,
        }
    )
    assert executions.executions[0].status == "queued-for-later"


def test_trigger_result() -> None:
    result = TriggerResult.model_validate({"execution_id": "x1", "workspace_id": None})
    assert result.execution_id == "x1"
    assert result.workspace_id is None
