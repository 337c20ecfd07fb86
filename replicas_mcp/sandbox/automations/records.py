"""The automation records kept per organization: automations and their executions (no wire shapes)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class AutomationRecord:
    id: str
    user_id: str | None  # set for personal automations
    created_by: str | None
    environment_id: str
    created_at: str
    updated_at: str
    settings: dict[str, Any]  # the validated fields of automations/fields.py
    webhook_token: str | None = None

    @property
    def name(self) -> str:
        return str(self.settings["name"])

    @property
    def triggers(self) -> list[dict[str, Any]]:
        triggers: list[dict[str, Any]] = self.settings["triggers"]
        return triggers

    @property
    def cron_trigger(self) -> dict[str, Any] | None:
        return next((t["config"] for t in self.triggers if t["type"] == "cron"), None)


@dataclass
class ExecutionRecord:
    id: str
    automation_id: str
    triggered_at: str
    trigger_payload: dict[str, Any]
    config: dict[str, Any]
    status: str = "creating"
    workspace_id: str | None = None
    error: str | None = None
    completed_at: str | None = None


@dataclass
class Executions:
    by_automation: dict[str, list[ExecutionRecord]] = field(default_factory=dict)

    def add(self, execution: ExecutionRecord) -> None:
        self.by_automation.setdefault(execution.automation_id, []).append(execution)

    def all(self) -> list[ExecutionRecord]:
        return [execution for runs in self.by_automation.values() for execution in runs]
