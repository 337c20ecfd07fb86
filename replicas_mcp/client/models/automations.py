"""Automations, their triggers, and their executions.

Field names are the wire names of the vendor's OpenAPI contract (note `totalPages` on pages).
Timestamps are kept as the ISO-8601 strings the API sends, as in the client's other models.
A trigger's `config` is typed by its `type`; a trigger type this client does not know keeps its config
as a plain `TriggerConfig` with every field it was sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from replicas_mcp.client.models._base import ApiModel, OpenStr

__all__ = [
    "AgentProviderValue",
    "Automation",
    "AutomationExecution",
    "AutomationExecutionRecord",
    "AutomationPage",
    "AutomationRecord",
    "AutomationScope",
    "AutomationTrigger",
    "CronTriggerConfig",
    "CustomTriggerConfig",
    "ExecutionPage",
    "ExecutionStatusValue",
    "GitHubTriggerConfig",
    "GitLabTriggerConfig",
    "LifecyclePolicyValue",
    "SentryTriggerConfig",
    "SlackTriggerConfig",
    "ThinkingLevelValue",
    "TriggerConfig",
    "TriggerResult",
    "TriggerTypeValue",
    "WorkspaceSizeValue",
    "trigger_config_for",
]

AutomationScope = Literal["org", "user", "all"]
TriggerTypeValue = Literal["cron", "github", "gitlab", "slack", "sentry", "custom"]
LifecyclePolicyValue = Literal["default", "archive_when_done", "sleep_when_done", "delete_after_inactivity"]
WorkspaceSizeValue = Literal["small", "large"]
AgentProviderValue = Literal["claude", "codex", "cursor", "opencode", "pi"]
ThinkingLevelValue = Literal["low", "medium", "high", "xhigh", "max", "ultra", "ultracode"]
ExecutionStatusValue = Literal["pending", "creating", "running", "completed", "failed"]


class TriggerConfig(ApiModel):
    """A trigger's configuration; the base of the typed configs, and the type for unknown trigger types."""


class CronTriggerConfig(TriggerConfig):
    """`type: cron`: a cron expression and an IANA timezone (the API defaults it to UTC)."""

    schedule: str
    timezone: str | None = None


class GitHubTriggerConfig(TriggerConfig):
    """`type: github`: a pull request event, optionally filtered by repository and actor."""

    event: OpenStr  # pull_request.opened|synchronize|merged|closed|command
    repository_ids: list[str] | None = None
    group_pr_events: bool | None = None
    excluded_actors: list[str] | None = None


class GitLabTriggerConfig(TriggerConfig):
    """`type: gitlab`: a merge request event, optionally filtered by project and actor."""

    event: OpenStr  # merge_request.opened|updated|merged|closed
    repository_ids: list[str] | None = None
    group_pr_events: bool | None = None
    excluded_actors: list[str] | None = None


class SlackTriggerConfig(TriggerConfig):
    """`type: slack`: a message event, optionally filtered by channel."""

    event: OpenStr  # message
    channel_ids: list[str] | None = None
    group_thread_replies: bool | None = None


class SentryTriggerConfig(TriggerConfig):
    """`type: sentry`: an alert or issue event, optionally filtered by project and level."""

    event: OpenStr  # event_alert.triggered|issue.created|error.created
    project_slugs: list[str] | None = None
    min_level: OpenStr | None = None  # debug|info|warning|error|fatal


class CustomTriggerConfig(TriggerConfig):
    """`type: custom`: a webhook (empty config; the automation's `webhook_token` is the secret)."""


_CONFIG_BY_TYPE: dict[str, type[TriggerConfig]] = {
    "cron": CronTriggerConfig,
    "github": GitHubTriggerConfig,
    "gitlab": GitLabTriggerConfig,
    "slack": SlackTriggerConfig,
    "sentry": SentryTriggerConfig,
    "custom": CustomTriggerConfig,
}

AnyTriggerConfig = (
    CronTriggerConfig
    | GitHubTriggerConfig
    | GitLabTriggerConfig
    | SlackTriggerConfig
    | SentryTriggerConfig
    | CustomTriggerConfig
    | TriggerConfig
)


def trigger_config_for(trigger_type: str, config: Mapping[str, Any]) -> TriggerConfig:
    """The typed config for a trigger type; raises pydantic's ValidationError on a wrong shape."""
    return _CONFIG_BY_TYPE.get(trigger_type, TriggerConfig).model_validate(dict(config))


class AutomationTrigger(ApiModel):
    """When an automation fires: `type` plus its type-specific `config`."""

    type: OpenStr  # one of TriggerTypeValue
    config: AnyTriggerConfig = Field(default_factory=TriggerConfig)

    @field_validator("config", mode="before")
    @classmethod
    def _config_by_type(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, TriggerConfig):
            value = value.model_dump()
        if not isinstance(value, Mapping):
            return value
        trigger_type = info.data.get("type")
        try:
            return trigger_config_for(trigger_type if isinstance(trigger_type, str) else "", value)
        except ValueError:
            # The API stored a config that does not match its type: keep every field rather than fail.
            return TriggerConfig.model_validate(dict(value))

    @classmethod
    def cron(cls, schedule: str, timezone: str | None = None) -> AutomationTrigger:
        config = CronTriggerConfig(schedule=schedule, timezone=timezone)
        return cls(type="cron", config=config)

    @classmethod
    def github(cls, event: str, **options: Any) -> AutomationTrigger:
        return cls(type="github", config=GitHubTriggerConfig(event=event, **options))

    @classmethod
    def gitlab(cls, event: str, **options: Any) -> AutomationTrigger:
        return cls(type="gitlab", config=GitLabTriggerConfig(event=event, **options))


class Automation(ApiModel):
    """An automation: a prompt run in an environment when one of its triggers fires."""

    id: str
    name: str
    prompt: str | None = None
    description: str | None = None
    triggers: list[AutomationTrigger] = Field(default_factory=list)
    environment_id: str | None = None
    enabled: bool | None = None
    organization_id: str | None = None
    user_id: str | None = None  # set for personal (scope "user") automations
    created_by: str | None = None
    debounce_seconds: int | None = None
    webhook_token: str | None = Field(default=None, repr=False)  # the webhook URL's secret
    cron_expression: str | None = None
    cron_timezone: str | None = None
    cron_next_fire_at: str | None = None
    workspace_lifecycle_policy: OpenStr | None = None  # one of LifecyclePolicyValue
    workspace_auto_stop_minutes: int | None = None
    workspace_size: OpenStr | None = None  # one of WorkspaceSizeValue
    config: dict[str, Any] | None = None
    agent_provider: OpenStr | None = None  # one of AgentProviderValue
    model: str | None = None
    thinking_level: OpenStr | None = None  # one of ThinkingLevelValue
    plan_mode: bool | None = None
    goal_mode: bool | None = None
    fast_mode: bool | None = None
    created_at: str | None = None
    updated_at: str | None = None

    @property
    def is_personal(self) -> bool:
        """A personal automation (owned by one user; invisible to org keys)."""
        return self.user_id is not None

    @property
    def has_cron_trigger(self) -> bool:
        """Only automations with a cron trigger can be triggered manually."""
        return any(trigger.type == "cron" for trigger in self.triggers)


AutomationRecord = Automation
"""The spec's name for `Automation`."""


class _PageCounts(ApiModel):
    """The counts an automations page carries next to its items (the items' key is the page's own)."""

    total: int = 0
    page: int = 1
    limit: int = 20
    totalPages: int = 0  # the wire name (camelCase, unlike the rest)

    @property
    def total_pages(self) -> int:
        return self.totalPages


class AutomationPage(_PageCounts):
    """One page of automations."""

    automations: list[Automation] = Field(default_factory=list)


class AutomationExecution(ApiModel):
    """One run of an automation."""

    id: str
    automation_id: str | None = None
    organization_id: str | None = None
    workspace_id: str | None = None
    status: OpenStr | None = None  # one of ExecutionStatusValue
    triggered_at: str | None = None
    completed_at: str | None = None
    trigger_payload: dict[str, Any] | None = None
    config: dict[str, Any] | None = None
    error: str | None = None


AutomationExecutionRecord = AutomationExecution
"""The spec's name for `AutomationExecution`."""


class ExecutionPage(_PageCounts):
    """One page of an automation's executions."""

    executions: list[AutomationExecution] = Field(default_factory=list)


class TriggerResult(ApiModel):
    """What a manual trigger started: the execution, and its workspace when already created."""

    execution_id: str
    workspace_id: str | None = None
