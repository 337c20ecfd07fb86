"""Automations of one organization: CRUD, manual triggers and runs (the records it keeps are in `records`).

Scope follows the guide: automations default to `scope: "org"`; a personal key may create `scope: "user"`
automations, owned by its user. Organization keys cannot read, edit, run or delete personal automations
(they get a 404, as for an id that does not exist), and users never see each other's. Listing takes
`scope=org|user|all` (default org); `scope=user` with an organization key is a 400, since such a key has
no user.

A manual trigger (`POST /v1/automations/{id}/trigger`) works for automations with a cron trigger, or —
when the body has `pr` — for those with a GitHub `pull_request.command` trigger (spec); anything else is a
400, as is triggering a disabled automation. Each trigger records an execution and launches a replica
through the `ReplicaLauncher` (source `automation`, the owner's user id for personal automations).
An execution is `running` until the workspace side reports how the replica's first turn (the prompt) ended:
`completed` when it finished, `failed` with `error` when the turn failed (`[[turn-error]]`), the workspace
entered the error state (`[[error]]`, an injected fault) or the prompt was dropped before it ran (replica,
chat or queue entry deleted); both set `completed_at`. A launch that is refused fails at once.
Cron automations also fire by themselves on the sandbox's scaled clock (`cron_scheduler.py`), and
`POST /_sandbox/events/{github|gitlab}` delivers a simulated repository event to matching automations
(`repo_events.py`); both launch through `launch` below.
"""

from __future__ import annotations

import json
import re
from typing import Any

from replicas_mcp.sandbox.automations import fields
from replicas_mcp.sandbox.automations.records import AutomationRecord, ExecutionRecord, Executions
from replicas_mcp.sandbox.automations.triggers import next_fire
from replicas_mcp.sandbox.clock import Clock
from replicas_mcp.sandbox.environments.store import OrgConfig
from replicas_mcp.sandbox.errors import ApiError, bad_request
from replicas_mcp.sandbox.http import expect_choice, expect_int, expect_object, expect_str, require
from replicas_mcp.sandbox.ids import IdFactory
from replicas_mcp.sandbox.launcher import LaunchRequest, ReplicaLauncher
from replicas_mcp.sandbox.tenancy import Caller

MAX_AUTOMATIONS = 100  # per organization; the spec's 403 "Automation limit reached for the current plan"


class AutomationStore:
    def __init__(
        self, *, org_id: str, ids: IdFactory, clock: Clock, config: OrgConfig, launcher: ReplicaLauncher
    ) -> None:
        self.org_id = org_id
        self._ids = ids
        self._clock = clock
        self._config = config
        self._launcher = launcher
        self._automations: dict[str, AutomationRecord] = {}
        self._executions = Executions()
        config.register_environment_users(self._names_using)

    # ------------------------------------------------------------------------------------- lookups
    def _names_using(self, environment_id: str) -> list[str]:
        return [a.name for a in self._automations.values() if a.environment_id == environment_id]

    @staticmethod
    def _visible_to(caller: Caller, automation: AutomationRecord) -> bool:
        return automation.user_id is None or (
            caller.user_id is not None and caller.user_id == automation.user_id
        )

    def enabled(self) -> list[AutomationRecord]:
        """Every enabled automation of the organization (both scopes), oldest first: for the schedulers."""
        return [a for a in self._automations.values() if a.settings["enabled"]]

    def get(self, caller: Caller, automation_id: str) -> AutomationRecord:
        automation = self._automations.get(automation_id)
        if automation is None or not self._visible_to(caller, automation):
            raise ApiError(
                404,
                "Automation not found",
                f"No automation with id {automation_id!r} that this API key can access; "
                "personal automations are only visible to their owner's personal key.",
            )
        return automation

    def matching(
        self,
        caller: Caller,
        *,
        scope: str = "org",
        trigger_type: str = "all",
        enabled: bool | None = None,
        search: str | None = None,
    ) -> list[AutomationRecord]:
        """Matching automations, newest first."""
        if scope == "user" and caller.user_id is None:
            raise bad_request(
                "scope=user needs a personal API key",
                "Organization keys have no personal automations; use scope=org, or a personal key.",
            )
        needle = (search or "").strip().lower()
        result = []
        for automation in reversed(self._automations.values()):
            personal = automation.user_id is not None
            if personal and not self._visible_to(caller, automation):
                continue
            if (scope == "org" and personal) or (scope == "user" and not personal):
                continue
            if trigger_type != "all" and all(t["type"] != trigger_type for t in automation.triggers):
                continue
            if enabled is not None and automation.settings["enabled"] != enabled:
                continue
            if needle and needle not in automation.name.lower():
                continue
            result.append(automation)
        return result

    def next_fire_at(self, automation: AutomationRecord) -> str | None:
        """The next fire time of its cron trigger (on the scheduler's clock); None if none or disabled."""
        cron = automation.cron_trigger
        if cron is None or not automation.settings["enabled"]:
            return None
        now = self._clock.simulated_now()
        return self._clock.iso(next_fire(cron["schedule"], cron["timezone"], now))

    # ---------------------------------------------------------------------------------------- CRUD
    def _known_repository(self, repository_id: str) -> bool:
        return any(repo.id == repository_id for repo in self._config.repositories())

    def _environment_id(self, caller: Caller, value: Any, *, personal: bool) -> str:
        env = self._config.visible_environment(
            expect_str(value, "environment_id"), caller, missing_status=400
        )
        if env.user_id is not None and not personal:
            raise bad_request(
                "Invalid field 'environment_id'",
                "An organization automation cannot run in a personal environment; pick a team environment "
                "or create the automation with scope 'user'.",
            )
        return env.id

    def create(self, caller: Caller, body: dict[str, Any]) -> AutomationRecord:
        scope = expect_choice(body.get("scope", "org"), "scope", ("org", "user"))
        if scope == "user" and caller.user_id is None:
            raise bad_request(
                "Personal automations need a personal API key",
                "This is an organization key: create the automation with scope 'org', or use a personal key.",
            )
        settings = fields.create_fields(body, self._known_repository)
        environment_id = self._environment_id(
            caller, require(body, "environment_id"), personal=scope == "user"
        )
        if len(self._automations) >= MAX_AUTOMATIONS:
            raise ApiError(
                403,
                "Automation limit reached for the current plan",
                f"This organization has {MAX_AUTOMATIONS} automations; delete unused ones first.",
            )
        now = self._clock.iso()
        automation = AutomationRecord(
            id=self._ids.uuid(),
            user_id=caller.user_id if scope == "user" else None,
            created_by=caller.user_id,
            environment_id=environment_id,
            created_at=now,
            updated_at=now,
            settings=settings,
        )
        self._sync_webhook_token(automation)
        self._automations[automation.id] = automation
        return automation

    def update(self, caller: Caller, automation_id: str, body: dict[str, Any]) -> AutomationRecord:
        automation = self.get(caller, automation_id)
        changes = fields.patch_fields(body, automation.settings, self._known_repository)
        if "environment_id" in body:
            automation.environment_id = self._environment_id(
                caller, body["environment_id"], personal=automation.user_id is not None
            )
        automation.settings.update(changes)
        self._sync_webhook_token(automation)
        automation.updated_at = self._clock.iso()
        return automation

    def delete(self, caller: Caller, automation_id: str) -> None:
        automation = self.get(caller, automation_id)
        del self._automations[automation.id]
        self._executions.by_automation.pop(automation.id, None)

    def _sync_webhook_token(self, automation: AutomationRecord) -> None:
        """A custom trigger gets a secret webhook token (kept across edits); without one there is none."""
        has_custom = any(t["type"] == "custom" for t in automation.triggers)
        if has_custom and automation.webhook_token is None:
            automation.webhook_token = self._ids.token("whk_", 32)
        elif not has_custom:
            automation.webhook_token = None

    # ---------------------------------------------------------------------------------- executions
    def trigger(self, caller: Caller, automation_id: str, body: dict[str, Any]) -> ExecutionRecord:
        automation = self.get(caller, automation_id)
        payload = expect_object(body["payload"], "payload") if body.get("payload") is not None else None
        pr = self._pull_request(automation, body["pr"]) if body.get("pr") is not None else None
        if pr is None and automation.cron_trigger is None:
            raise bad_request(
                "This automation cannot be triggered manually",
                "Only automations with a cron trigger can be triggered directly (or, passing 'pr', those "
                "with a GitHub pull_request.command trigger).",
            )
        if not automation.settings["enabled"]:
            raise bad_request(
                "Automation is disabled", 'Enable it first: PATCH /v1/automations/{id} {"enabled": true}.'
            )
        trigger_payload: dict[str, Any] = {"source": "manual", "payload": payload or {}}
        if pr is not None:
            trigger_payload["pr"] = pr
        return self.launch(automation, trigger_payload, launch_message(automation, payload, pr))

    def _pull_request(self, automation: AutomationRecord, value: Any) -> dict[str, Any]:
        pr = expect_object(value, "pr")
        repository_id = expect_str(require(pr, "repository_id"), "pr.repository_id")
        number = expect_int(require(pr, "number"), "pr.number", minimum=1, maximum=10**9)
        commands = [
            t["config"]
            for t in automation.triggers
            if t["type"] == "github" and t["config"]["event"] == "pull_request.command"
        ]
        if not commands:
            raise bad_request(
                "pr is only allowed for pull_request.command automations",
                "Add a GitHub trigger with event 'pull_request.command', or trigger without 'pr'.",
            )
        if not self._known_repository(repository_id) or not any(
            repository_id in c.get("repository_ids", [repository_id]) for c in commands
        ):
            raise bad_request(
                "Invalid field 'pr.repository_id'",
                "The repository must belong to this organization and match the trigger's repository_ids.",
            )
        return {"repository_id": repository_id, "number": number}

    def launch(
        self, automation: AutomationRecord, trigger_payload: dict[str, Any], message: str
    ) -> ExecutionRecord:
        """Record an execution of `automation` and start its replica with `message`."""
        settings = automation.settings
        execution = ExecutionRecord(
            id=self._ids.uuid(),
            automation_id=automation.id,
            triggered_at=self._clock.iso(),
            trigger_payload=trigger_payload,
            config=json.loads(json.dumps(settings["config"])),  # a snapshot, as the API takes
        )
        self._executions.add(execution)

        def finished(error: str | None) -> None:
            self.execution_finished(execution, error=error)

        try:
            request = LaunchRequest(
                org_id=self.org_id,
                name=f"{_slug(automation.name)}-{self._ids.token('', 6)}",
                environment_id=automation.environment_id,
                message=message,
                coding_agent=settings["agent_provider"],
                model=settings["model"],
                thinking_level=settings["thinking_level"],
                lifecycle_policy=settings["workspace_lifecycle_policy"],
                size=settings["workspace_size"],
                user_id=automation.user_id,
                source="automation",
            )
            execution.workspace_id = self._launcher.launch(request, on_finished=finished)
        except ApiError as exc:
            self.execution_finished(execution, error=f"{exc.error}: {exc.details or ''}".rstrip(": "))
            raise
        if execution.status == "creating":
            execution.status = "running"
        return execution

    def execution_finished(self, execution: ExecutionRecord | str, *, error: str | None = None) -> None:
        """Mark an execution (or the execution of a workspace id) completed, or failed with `error`.

        The launcher reports through this once per run; an execution that has already finished keeps
        its first outcome.
        """
        if isinstance(execution, str):
            found = next((e for e in self._executions.all() if e.workspace_id == execution), None)
            if found is None:
                return
            execution = found
        if execution.status in ("completed", "failed"):
            return
        execution.status = "failed" if error else "completed"
        execution.error = error
        execution.completed_at = self._clock.iso()

    def executions(self, caller: Caller, automation_id: str) -> list[ExecutionRecord]:
        automation = self.get(caller, automation_id)
        return list(reversed(self._executions.by_automation.get(automation.id, [])))

    def fire_webhook(self, token: str, payload: Any) -> ExecutionRecord | None:
        """Fire the automation whose custom-trigger token is `token` (None: unknown, disabled, no trigger)."""
        automation = next((a for a in self._automations.values() if a.webhook_token == token), None)
        if automation is None or not automation.settings["enabled"]:
            return None
        body = payload if isinstance(payload, dict) else {"raw": payload}
        return self.launch(
            automation, {"source": "webhook", "payload": body}, launch_message(automation, body, None)
        )


def _slug(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40].strip("-")
    return slug or "automation"


def launch_message(
    automation: AutomationRecord, payload: dict[str, Any] | None, pr: dict[str, Any] | None
) -> str:
    """The prompt the agent receives: the automation's prompt plus the trigger's context."""
    parts = [str(automation.settings["prompt"])]
    if pr is not None:
        parts.append(f"## Pull Request\nRepository {pr['repository_id']}, pull request #{pr['number']}.")
    if payload:
        parts.append(
            "## Trigger Payload\n```json\n" + json.dumps(payload, indent=2, sort_keys=True) + "\n```"
        )
    return "\n\n".join(parts)
