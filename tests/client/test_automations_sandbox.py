"""`client.automations` end to end: the real client against the sandbox over loopback HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import pytest

from replicas_mcp.client import ReplicasClient
from replicas_mcp.client.errors import BadRequestError, NotFoundError, PermissionDeniedError
from replicas_mcp.client.models.automations import AutomationTrigger
from replicas_mcp.sandbox.serve import RunningSandbox

DEADLINE = 10
NIGHTLY = AutomationTrigger.cron("0 3 * * *", "UTC")


@pytest.fixture
async def org(sandbox: RunningSandbox) -> AsyncIterator[ReplicasClient]:
    async with ReplicasClient(api_key=sandbox.org_key, base_url=sandbox.base_url) as api:
        yield api


@pytest.fixture
async def personal(sandbox: RunningSandbox) -> AsyncIterator[ReplicasClient]:
    async with ReplicasClient(api_key=sandbox.personal_key, base_url=sandbox.base_url) as api:
        yield api


@pytest.fixture
async def env_id(org: ReplicasClient) -> str:
    with anyio.fail_after(DEADLINE):
        env = await org.environments.create(name="automation-target")
    return env.id


async def test_automation_crud_and_null_clears(org: ReplicasClient, env_id: str) -> None:
    with anyio.fail_after(DEADLINE):
        created = await org.automations.create(
            name="daily-review",
            prompt="Review open PRs",
            environment_id=env_id,
            triggers=[AutomationTrigger.cron("0 9 * * 1-5", "America/New_York")],
            description="weekday mornings",
            agent_provider="claude",
            model="sonnet",
            thinking_level="high",
            debounce_seconds=60,
        )
        assert created.enabled is True
        assert created.has_cron_trigger
        assert created.cron_expression == "0 9 * * 1-5"
        assert created.model == "sonnet"
        fetched = await org.automations.get(created.id)
        assert fetched.name == "daily-review"

        cleared = await org.automations.update(
            created.id, model=None, thinking_level=None, debounce_seconds=None, enabled=False
        )
        assert cleared.model is None
        assert cleared.thinking_level is None
        assert cleared.debounce_seconds is None
        assert cleared.enabled is False
        assert cleared.agent_provider == "claude"  # not passed: unchanged
        assert cleared.description == "weekday mornings"

        retriggered = await org.automations.update(
            created.id, triggers=[{"type": "github", "config": {"event": "pull_request.opened"}}]
        )
        assert [t.type for t in retriggered.triggers] == ["github"]

        await org.automations.delete(created.id)
        with pytest.raises(NotFoundError):
            await org.automations.get(created.id)


async def test_list_filters_and_iteration(org: ReplicasClient, env_id: str) -> None:
    with anyio.fail_after(DEADLINE):
        for index in range(5):
            await org.automations.create(
                name=f"batch-{index}",
                prompt="p",
                environment_id=env_id,
                triggers=[NIGHTLY],
                enabled=index % 2 == 0,
            )
        await org.automations.create(
            name="pr-bot",
            prompt="p",
            environment_id=env_id,
            triggers=[AutomationTrigger.github("pull_request.opened")],
        )
        page = await org.automations.list(page=1, limit=2, search="batch")
        assert page.total == 5
        assert page.totalPages == 3
        assert len(page.automations) == 2
        every = [a.name async for a in org.automations.iter(search="batch", page_size=2)]
        assert sorted(every) == [f"batch-{i}" for i in range(5)]
        disabled = await org.automations.list(search="batch", enabled=False)
        assert sorted(a.name for a in disabled.automations) == ["batch-1", "batch-3"]
        github = await org.automations.list(trigger_type="github")
        assert [a.name for a in github.automations] == ["pr-bot"]


async def test_trigger_cron_only_and_executions_pagination(org: ReplicasClient, env_id: str) -> None:
    with anyio.fail_after(DEADLINE):
        cron = await org.automations.create(
            name="cron", prompt="p", environment_id=env_id, triggers=[NIGHTLY]
        )
        results = [await org.automations.trigger(cron.id, {"run": n}) for n in range(3)]
        assert len({r.execution_id for r in results}) == 3
        first = await org.automations.executions(cron.id, page=1, limit=2)
        assert first.total == 3
        assert first.totalPages == 2
        assert len(first.executions) == 2
        every = [e.id async for e in org.automations.iter_executions(cron.id, page_size=2)]
        assert sorted(every) == sorted(r.execution_id for r in results)

        github_only = await org.automations.create(
            name="gh",
            prompt="p",
            environment_id=env_id,
            triggers=[AutomationTrigger.github("pull_request.opened")],
        )
        with pytest.raises(BadRequestError):
            await org.automations.trigger(github_only.id)


async def test_personal_and_org_scopes(org: ReplicasClient, personal: ReplicasClient, env_id: str) -> None:
    with anyio.fail_after(DEADLINE):
        team = await org.automations.create(
            name="team-auto", prompt="p", environment_id=env_id, triggers=[NIGHTLY]
        )
        mine = await personal.automations.create(
            name="my-auto", prompt="p", environment_id=env_id, triggers=[NIGHTLY], scope="user"
        )
        assert mine.is_personal
        assert not team.is_personal

        org_view = {a.id async for a in org.automations.iter()}
        assert team.id in org_view
        assert mine.id not in org_view  # org keys never see personal automations
        with pytest.raises((NotFoundError, PermissionDeniedError)):
            await org.automations.get(mine.id)
        with pytest.raises((NotFoundError, PermissionDeniedError)):
            await org.automations.delete(mine.id)

        user_view = {a.id async for a in personal.automations.iter(scope="user")}
        assert user_view == {mine.id}
        both = {a.id async for a in personal.automations.iter(scope="all")}
        assert {team.id, mine.id} <= both
        # A personal key manages org automations too.
        await personal.automations.update(team.id, enabled=False)
        assert (await org.automations.get(team.id)).enabled is False


async def test_other_organization_sees_nothing(
    org: ReplicasClient, env_id: str, sandbox: RunningSandbox
) -> None:
    with anyio.fail_after(DEADLINE):
        team = await org.automations.create(
            name="secret", prompt="p", environment_id=env_id, triggers=[NIGHTLY]
        )
    async with ReplicasClient(api_key=sandbox.other_org_key, base_url=sandbox.base_url) as other:
        with anyio.fail_after(DEADLINE):
            with pytest.raises(NotFoundError):
                await other.automations.get(team.id)
            assert team.id not in {a.id async for a in other.automations.iter()}
