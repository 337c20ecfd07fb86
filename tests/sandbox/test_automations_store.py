"""AutomationStore used directly, with a recording launcher: validation rules, PATCH semantics, scope."""

from __future__ import annotations

from typing import Any

import pytest

from replicas_mcp.sandbox.automations.routes import automation_json
from replicas_mcp.sandbox.automations.store import MAX_AUTOMATIONS, AutomationStore
from replicas_mcp.sandbox.clock import Clock
from replicas_mcp.sandbox.environments.seed import seed_id
from replicas_mcp.sandbox.environments.store import OrgConfig
from replicas_mcp.sandbox.errors import ApiError
from replicas_mcp.sandbox.ids import IdFactory
from replicas_mcp.sandbox.launcher import LaunchRequest, OutcomeListener
from replicas_mcp.sandbox.tenancy import Caller

ORG = "org-1"
ORG_KEY = Caller(org_id=ORG, key_kind="org", user_id=None)
ALICE = Caller(org_id=ORG, key_kind="personal", user_id="alice")
BOB = Caller(org_id=ORG, key_kind="personal", user_id="bob")
API_ENV = seed_id(ORG, "environment/api")
CRON = [{"type": "cron", "config": {"schedule": "0 9 * * 1-5", "timezone": "Europe/Paris"}}]


class RecordingLauncher:
    def __init__(self, fail_with: ApiError | None = None) -> None:
        self.calls: list[LaunchRequest] = []
        self.reports: list[OutcomeListener] = []  # each call's on_finished
        self.fail_with = fail_with

    def launch(self, request: LaunchRequest, on_finished: OutcomeListener | None = None) -> str:
        if self.fail_with is not None:
            raise self.fail_with
        self.calls.append(request)
        if on_finished is not None:
            self.reports.append(on_finished)
        return f"replica-{len(self.calls)}"


@pytest.fixture
def launcher() -> RecordingLauncher:
    return RecordingLauncher()


@pytest.fixture
def store(launcher: RecordingLauncher) -> AutomationStore:
    ids, clock = IdFactory(0), Clock(0.001)
    config = OrgConfig(org_id=ORG, org_name="Acme", ids=ids, clock=clock)
    return AutomationStore(org_id=ORG, ids=ids, clock=clock, config=config, launcher=launcher)


def body(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "daily review",
        "prompt": "Review open PRs",
        "environment_id": API_ENV,
        "triggers": CRON,
    } | overrides


def status_of(call: Any, *args: Any) -> int:
    with pytest.raises(ApiError) as info:
        call(*args)
    return info.value.status


def test_create_fills_defaults(store: AutomationStore) -> None:
    automation = store.create(ORG_KEY, body())
    rendered = automation_json(store, automation)
    assert rendered["cron_expression"] == "0 9 * * 1-5"
    assert rendered["cron_timezone"] == "Europe/Paris"
    assert rendered["cron_next_fire_at"] is not None
    assert rendered["cron_next_fire_at"].endswith("Z")
    assert (rendered["workspace_size"], rendered["workspace_lifecycle_policy"], rendered["enabled"]) == (
        "small",
        "default",
        True,
    )
    assert rendered["config"] == {"capabilities": {"pr_followups": False}}
    assert rendered["user_id"] is None
    assert rendered["webhook_token"] is None
    disabled = automation_json(store, store.update(ORG_KEY, automation.id, {"enabled": False}))
    assert disabled["cron_next_fire_at"] is None


@pytest.mark.parametrize(
    ("triggers", "fragment"),
    [
        ([], "non-empty"),
        ([{"type": "cron", "config": {"schedule": "61 * * * *"}}], "cron expression"),
        ([{"type": "cron", "config": {"schedule": "0 0 9 * * 1"}}], "5 fields"),
        ([{"type": "cron", "config": {"schedule": "0 9 * * *", "timezone": "Mars/Olympus"}}], "iana"),
        ([{"type": "cron", "config": {}}], "schedule"),
        ([{"type": "github", "config": {"event": "push"}}], "pull_request.opened"),
        ([{"type": "github", "config": {}}], "needs an event"),
        (
            [{"type": "github", "config": {"event": "pull_request.opened", "repository_ids": ["nope"]}}],
            "unknown",
        ),
        ([{"type": "github", "config": {"event": "pull_request.opened", "branch": "main"}}], "unknown key"),
        ([{"type": "gitlab", "config": {"event": "pull_request.opened"}}], "merge_request.opened"),
        ([{"type": "slack", "config": {"event": "reaction"}}], "message"),
        ([{"type": "sentry", "config": {"event": "issue.created", "min_level": "loud"}}], "min_level"),
        ([{"type": "custom", "config": {"token": "x"}}], "unknown key"),
        ([{"type": "webhook", "config": {}}], "trigger type"),
        ([{"type": "cron"}], "needs a config"),
        ([*CRON, {"type": "cron", "config": {"schedule": "0 1 * * *"}}], "at most one cron"),
        (
            [{"type": "github", "config": {"event": "pull_request.opened"}}] * 2,
            "at most one trigger for pull_request.opened",
        ),
    ],
)
def test_trigger_validation(store: AutomationStore, triggers: list[Any], fragment: str) -> None:
    with pytest.raises(ApiError) as info:
        store.create(ORG_KEY, body(triggers=triggers))
    assert info.value.status == 400
    assert fragment.lower() in f"{info.value.error} {info.value.details}".lower()


def test_valid_event_triggers_are_normalized(store: AutomationStore) -> None:
    repo = seed_id(ORG, "repository/api")
    triggers = [
        {"type": "github", "config": {"event": "pull_request.opened", "repository_ids": [repo]}},
        {"type": "gitlab", "config": {"event": "merge_request.opened", "excluded_actors": ["bot"]}},
        {"type": "slack", "config": {"event": "message"}},
        {"type": "sentry", "config": {"event": "issue.created", "min_level": "error"}},
        {"type": "custom"},
    ]
    automation = store.create(ORG_KEY, body(triggers=triggers))
    rendered = automation_json(store, automation)
    assert rendered["triggers"][2] == {
        "type": "slack",
        "config": {"event": "message", "group_thread_replies": True},
    }
    assert rendered["triggers"][4] == {"type": "custom", "config": {}}
    assert rendered["webhook_token"] is not None
    assert rendered["webhook_token"].startswith("whk_")
    assert rendered["cron_expression"] is None
    assert rendered["cron_next_fire_at"] is None
    # Removing the custom trigger drops the token.
    updated = store.update(ORG_KEY, automation.id, {"triggers": CRON})
    assert updated.webhook_token is None


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"debounce_seconds": 86_401}, "between 0 and 86400"),
        ({"debounce_seconds": True}, "integer"),
        ({"agent_provider": "gemini"}, "agent_provider"),
        ({"model": "sonnet"}, "requires agent_provider"),
        ({"agent_provider": "codex", "model": "sonnet"}, "not a codex model"),
        ({"agent_provider": "claude", "thinking_level": "ultra"}, "codex"),
        ({"agent_provider": "codex", "thinking_level": "ultracode"}, "claude"),
        ({"thinking_level": "extreme"}, "thinking_level"),
        ({"workspace_size": "huge"}, "workspace_size"),
        ({"workspace_lifecycle_policy": "forever"}, "workspace_lifecycle_policy"),
        ({"workspace_auto_stop_minutes": 2}, "between 3 and 1440"),
        ({"scope": "team"}, "scope"),
        ({"environment_id": "nope"}, "environment not found"),
        ({"name": ""}, "empty"),
        ({"prompt": None}, "prompt"),
        ({"config": {"capabilities": {"pr_followups": "yes"}}}, "pr_followups"),
    ],
)
def test_field_validation(store: AutomationStore, overrides: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ApiError) as info:
        store.create(ORG_KEY, body(**overrides))
    assert info.value.status == 400
    assert fragment.lower() in f"{info.value.error} {info.value.details}".lower()


def test_agent_patch_semantics(store: AutomationStore) -> None:
    automation = store.create(
        ORG_KEY, body(agent_provider="claude", model="opus[1m]", thinking_level="high", debounce_seconds=60)
    )
    # Changing the provider without a model clears the model.
    store.update(ORG_KEY, automation.id, {"agent_provider": "codex"})
    assert (automation.settings["agent_provider"], automation.settings["model"]) == ("codex", None)
    store.update(ORG_KEY, automation.id, {"model": "gpt-5.5", "thinking_level": "ultra"})
    assert automation.settings["model"] == "gpt-5.5"
    # Back to claude while 'ultra' (Codex-only) is stored: the combination is refused until it is fixed.
    assert status_of(store.update, ORG_KEY, automation.id, {"agent_provider": "claude"}) == 400
    store.update(
        ORG_KEY, automation.id, {"agent_provider": "claude", "model": "sonnet", "thinking_level": None}
    )
    assert (automation.settings["model"], automation.settings["thinking_level"]) == ("sonnet", None)
    # Null clears overrides and debounce; null is refused for non-nullable fields.
    store.update(ORG_KEY, automation.id, {"agent_provider": None, "debounce_seconds": None})
    assert (automation.settings["agent_provider"], automation.settings["model"]) == (None, None)
    assert automation.settings["debounce_seconds"] is None
    for field in ("name", "prompt", "enabled", "workspace_size", "triggers"):
        assert status_of(store.update, ORG_KEY, automation.id, {field: None}) == 400
    # Setting a model for the stored provider alone works; with no provider it is refused.
    assert status_of(store.update, ORG_KEY, automation.id, {"model": "haiku"}) == 400
    store.update(
        ORG_KEY, automation.id, {"description": "Weekdays", "workspace_lifecycle_policy": "delete_when_done"}
    )
    assert automation.settings["description"] == "Weekdays"


def test_scope_and_visibility(store: AutomationStore) -> None:
    org_one = store.create(ORG_KEY, body(name="org-wide"))
    alices = store.create(ALICE, body(name="alice only", scope="user"))
    assert (alices.user_id, alices.created_by) == ("alice", "alice")
    assert status_of(store.create, ORG_KEY, body(scope="user")) == 400
    for caller in (ORG_KEY, BOB):
        for call, args in ((store.get, ()), (store.update, ({"enabled": False},)), (store.delete, ())):
            assert status_of(call, caller, alices.id, *args) == 404
        assert status_of(store.trigger, caller, alices.id, {}) == 404
    assert [a.name for a in store.matching(ALICE, scope="all")] == ["alice only", "org-wide"]
    assert [a.name for a in store.matching(ALICE, scope="user")] == ["alice only"]
    assert [a.name for a in store.matching(ALICE)] == ["org-wide"]
    assert [a.name for a in store.matching(ORG_KEY, scope="all")] == ["org-wide"]
    assert store.matching(BOB, scope="user") == []
    with pytest.raises(ApiError) as info:
        store.matching(ORG_KEY, scope="user")
    assert info.value.status == 400
    assert store.get(ALICE, org_one.id) is org_one  # personal keys manage org automations too


def test_personal_environment_needs_personal_scope(store: AutomationStore) -> None:
    config: OrgConfig = store._config
    mine = config.create_environment(ALICE, name="mine", scope="user")
    assert status_of(store.create, ALICE, body(environment_id=mine.id)) == 400
    assert store.create(ALICE, body(environment_id=mine.id, scope="user")).environment_id == mine.id
    assert status_of(store.create, BOB, body(environment_id=mine.id, scope="user")) == 400


def test_filters(store: AutomationStore) -> None:
    store.create(ORG_KEY, body(name="Nightly deps"))
    gh = store.create(
        ORG_KEY,
        body(name="PR review", triggers=[{"type": "github", "config": {"event": "pull_request.opened"}}]),
    )
    store.update(ORG_KEY, gh.id, {"enabled": False})
    assert [a.name for a in store.matching(ORG_KEY, trigger_type="github")] == ["PR review"]
    assert [a.name for a in store.matching(ORG_KEY, enabled=True)] == ["Nightly deps"]
    assert [a.name for a in store.matching(ORG_KEY, search="  review ")] == ["PR review"]
    assert [a.name for a in store.matching(ORG_KEY, search="NIGHTLY")] == ["Nightly deps"]


def test_trigger_launches_a_replica(store: AutomationStore, launcher: RecordingLauncher) -> None:
    automation = store.create(
        ALICE,
        body(
            scope="user",
            agent_provider="codex",
            model="gpt-5.4",
            workspace_size="large",
            name="Daily Review!",
        ),
    )
    execution = store.trigger(ALICE, automation.id, {"payload": {"ticket": 7}})
    assert (execution.status, execution.workspace_id) == ("running", "replica-1")
    call = launcher.calls[0]
    assert call.name.startswith("daily-review-")
    assert " " not in call.name
    assert (call.coding_agent, call.model, call.size, call.user_id, call.source) == (
        "codex",
        "gpt-5.4",
        "large",
        "alice",
        "automation",
    )
    assert call.message.startswith("Review open PRs")
    assert '"ticket": 7' in call.message
    store.execution_finished("replica-1")
    assert execution.status == "completed"
    assert execution.completed_at is not None
    assert [e.id for e in store.executions(ALICE, automation.id)] == [execution.id]
    store.delete(ALICE, automation.id)
    assert store._executions.all() == []


def test_the_launchers_report_finishes_each_execution_once(
    store: AutomationStore, launcher: RecordingLauncher
) -> None:
    automation = store.create(ORG_KEY, body())
    first = store.trigger(ORG_KEY, automation.id, {})
    second = store.trigger(ORG_KEY, automation.id, {})
    assert (first.status, second.status) == ("running", "running")
    assert (first.completed_at, second.completed_at) == (None, None)
    report_first, report_second = launcher.reports
    report_first(None)
    report_second("The workspace sandbox ran out of memory")
    report_second(None)  # a late second report changes nothing
    assert (first.status, first.error) == ("completed", None)
    assert (second.status, second.error) == ("failed", "The workspace sandbox ran out of memory")
    assert first.completed_at is not None
    assert second.completed_at is not None


def test_trigger_rules(store: AutomationStore) -> None:
    repo = seed_id(ORG, "repository/api")
    github = store.create(
        ORG_KEY, body(triggers=[{"type": "github", "config": {"event": "pull_request.opened"}}])
    )
    assert status_of(store.trigger, ORG_KEY, github.id, {}) == 400
    command = store.create(
        ORG_KEY,
        body(
            triggers=[
                {"type": "github", "config": {"event": "pull_request.command", "repository_ids": [repo]}}
            ]
        ),
    )
    assert status_of(store.trigger, ORG_KEY, command.id, {}) == 400
    execution = store.trigger(ORG_KEY, command.id, {"pr": {"repository_id": repo, "number": 12}})
    assert execution.trigger_payload["pr"] == {"repository_id": repo, "number": 12}
    web_repo = seed_id(ORG, "repository/web")
    assert (
        status_of(store.trigger, ORG_KEY, command.id, {"pr": {"repository_id": web_repo, "number": 1}}) == 400
    )
    assert status_of(store.trigger, ORG_KEY, command.id, {"pr": {"repository_id": repo}}) == 400
    cron = store.create(ORG_KEY, body())
    assert status_of(store.trigger, ORG_KEY, cron.id, {"payload": "text"}) == 400
    assert status_of(store.trigger, ORG_KEY, cron.id, {"pr": {"repository_id": repo, "number": 1}}) == 400
    store.update(ORG_KEY, cron.id, {"enabled": False})
    assert status_of(store.trigger, ORG_KEY, cron.id, {}) == 400


def test_failed_launch_is_recorded(launcher: RecordingLauncher, store: AutomationStore) -> None:
    automation = store.create(ORG_KEY, body())
    launcher.fail_with = ApiError(503, "Capacity exhausted", "try later")
    assert status_of(store.trigger, ORG_KEY, automation.id, {}) == 503
    (execution,) = store.executions(ORG_KEY, automation.id)
    assert execution.status == "failed"
    assert execution.error == "Capacity exhausted: try later"
    assert execution.workspace_id is None


def test_custom_webhook_fires(store: AutomationStore, launcher: RecordingLauncher) -> None:
    automation = store.create(ORG_KEY, body(triggers=[{"type": "custom"}]))
    assert automation.webhook_token is not None
    execution = store.fire_webhook(automation.webhook_token, "plain text")
    assert execution is not None
    assert execution.trigger_payload == {
        "source": "webhook",
        "payload": {"raw": "plain text"},
    }
    assert store.fire_webhook("whk_unknown", {}) is None
    store.update(ORG_KEY, automation.id, {"enabled": False})
    assert store.fire_webhook(automation.webhook_token, {}) is None
    assert len(launcher.calls) == 1


def test_environment_in_use(store: AutomationStore) -> None:
    store.create(ORG_KEY, body(name="uses api"))
    with pytest.raises(ApiError) as info:
        store._config.delete_environment(ORG_KEY, API_ENV)
    assert info.value.status == 409
    assert "uses api" in (info.value.details or "")


def test_plan_limit(store: AutomationStore) -> None:
    for index in range(MAX_AUTOMATIONS):
        store.create(ORG_KEY, body(name=f"a{index}"))
    assert status_of(store.create, ORG_KEY, body(name="one more")) == 403
