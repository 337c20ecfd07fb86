"""`client.environments` end to end: the real client against the sandbox over loopback HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest

from replicas_mcp.client import ReplicasClient
from replicas_mcp.client.errors import BadRequestError, ConflictError, NotFoundError, RequestValidationError
from replicas_mcp.client.models.automations import AutomationTrigger
from replicas_mcp.client.models.environments import (
    Environment,
    EnvironmentMcpHttpConfig,
    EnvironmentMcpStdioConfig,
    HookStreamEvent,
)
from replicas_mcp.sandbox.serve import RunningSandbox

# Every await below talks to a local sandbox; none should take more than a few seconds.
DEADLINE = 10

GOOD_SCRIPT = "#!/usr/bin/env bash\nset -euo pipefail\necho warming\nbun install\n"
FAILING_SCRIPT = "#!/usr/bin/env bash\nset -e\necho about to fail\nfalse\necho never\n"
PROVISION_FAILURE_SCRIPT = "# replicas-sandbox: provision-failure\necho hi\n"


@pytest.fixture
async def client(sandbox: RunningSandbox) -> AsyncIterator[ReplicasClient]:
    async with ReplicasClient(api_key=sandbox.org_key, base_url=sandbox.base_url) as api:
        yield api


async def fresh_env(client: ReplicasClient, name: str, **fields: Any) -> Environment:
    with anyio.fail_after(DEADLINE):
        return await client.environments.create(name=name, **fields)


async def seeded_env(client: ReplicasClient, name: str) -> Environment:
    with anyio.fail_after(DEADLINE):
        envs = await client.environments.list()
    return next(env for env in envs if env.name == name)


async def test_environment_crud(client: ReplicasClient) -> None:
    with anyio.fail_after(DEADLINE):
        repos = await client.repositories.list()
        api_repo = next(repo for repo in repos if repo.name.endswith("/api"))
        created = await client.environments.create(
            name="staging",
            description="Staging deploys",
            repository_id=api_repo.id,
            system_prompt="staging only",
        )
        assert created.repository_id == api_repo.id
        assert not created.is_global
        fetched = await client.environments.get(created.id)
        assert fetched.name == "staging"
        listed = await client.environments.list()
        assert created.id in {env.id for env in listed}
        assert any(env.is_global for env in listed)
        updated = await client.environments.update(created.id, name="staging-eu", description=None)
        assert updated.name == "staging-eu"
        assert updated.description is None
        assert updated.system_prompt == "staging only"  # not passed: unchanged
        await client.environments.delete(created.id)
        with pytest.raises(NotFoundError):
            await client.environments.get(created.id)


async def test_global_alias(client: ReplicasClient) -> None:
    with anyio.fail_after(DEADLINE):
        glob = await client.environments.get("global")
        assert glob.is_global
        by_uuid = await client.environments.get(glob.id)
        assert by_uuid.id == glob.id
        with pytest.raises(ConflictError):
            await client.environments.delete("global")
        with pytest.raises(BadRequestError):
            await client.environments.update("global", name="renamed")
        # Nested resources of the Global env are addressable through the alias.
        variables = await client.environments.variables.list("global")
    assert "TZ" in {var.key for var in variables}


async def test_delete_blocked_while_an_automation_uses_the_environment(client: ReplicasClient) -> None:
    env = await fresh_env(client, "used-by-automation")
    with anyio.fail_after(DEADLINE):
        automation = await client.automations.create(
            name="nightly",
            prompt="check things",
            environment_id=env.id,
            triggers=[AutomationTrigger.cron("0 3 * * *")],
        )
        with pytest.raises(ConflictError):
            await client.environments.delete(env.id)
        await client.automations.delete(automation.id)
        await client.environments.delete(env.id)


async def test_both_bindings_rejected_locally(client: ReplicasClient) -> None:
    with pytest.raises(RequestValidationError):
        await client.environments.create(name="x", repository_id="r", repository_set_id="s")


async def test_variables_crud_and_secrecy(client: ReplicasClient) -> None:
    env = await fresh_env(client, "vars")
    with anyio.fail_after(DEADLINE):
        var = await client.environments.variables.create(env.id, key="API_TOKEN", value="tok_live_abc123")
        assert var.value == "tok_live_abc123"
        assert "tok_live_abc123" not in repr(var)
        with pytest.raises(ConflictError):
            await client.environments.variables.create(env.id, key="API_TOKEN", value="other")
        updated = await client.environments.variables.update(env.id, var.id, value="tok_live_def456")
        assert updated.value == "tok_live_def456"
        assert updated.key == "API_TOKEN"
        listed = await client.environments.variables.list(env.id)
        assert [v.value for v in listed] == ["tok_live_def456"]
        assert "tok_live_def456" not in repr(listed)
        await client.environments.variables.delete(env.id, var.id)
        assert await client.environments.variables.list(env.id) == []
        with pytest.raises(NotFoundError):
            await client.environments.variables.delete(env.id, var.id)


async def test_files_crud_and_size_limit(client: ReplicasClient) -> None:
    env = await fresh_env(client, "files")
    with anyio.fail_after(DEADLINE):
        at_limit = await client.environments.files.create(
            env.id, name="big", path="~/big.txt", content="a" * 65536
        )
        assert len(at_limit.content) == 65536
        with pytest.raises(RequestValidationError, match="64 KB"):
            await client.environments.files.create(env.id, name="too-big", path="~/x", content="a" * 65537)
        renamed = await client.environments.files.update(
            env.id, at_limit.id, name="agents", content="# rules\n"
        )
        assert renamed.name == "agents"
        assert renamed.content == "# rules\n"
        assert renamed.path == "~/big.txt"
        assert [f.id for f in await client.environments.files.list(env.id)] == [at_limit.id]
        await client.environments.files.delete(env.id, at_limit.id)
        assert await client.environments.files.list(env.id) == []


async def test_skills_search_enable_disable(client: ReplicasClient) -> None:
    env = await fresh_env(client, "skills")
    with anyio.fail_after(DEADLINE):
        hits = await client.environments.skills.search("docker")
        assert hits
        hit = hits[0]
        enabled = await client.environments.skills.enable(
            env.id, name=hit.name, slug=hit.slug, source=hit.source
        )
        assert enabled.slug == hit.slug
        with pytest.raises(ConflictError):
            await client.environments.skills.enable(env.id, name=hit.name, slug=hit.slug, source=hit.source)
        assert [s.id for s in await client.environments.skills.list(env.id)] == [enabled.id]
        await client.environments.skills.disable(env.id, enabled.id)
        assert await client.environments.skills.list(env.id) == []


async def test_skill_registries(client: ReplicasClient) -> None:
    env = await fresh_env(client, "registries")
    with anyio.fail_after(DEADLINE):
        registry = await client.environments.skill_registries.add(
            env.id, url="https://github.com/acme/skills"
        )
        assert registry.url == "https://github.com/acme/skills"
        listed = await client.environments.skill_registries.list(env.id)
        assert [r.id for r in listed] == [registry.id]
        await client.environments.skill_registries.remove(env.id, registry.id)
        assert await client.environments.skill_registries.list(env.id) == []


async def test_mcps_crud_validation_and_secrecy(client: ReplicasClient) -> None:
    env = await fresh_env(client, "mcps")
    with anyio.fail_after(DEADLINE):
        mcp = await client.environments.mcps.create(
            env.id,
            name="linear",
            transport="stdio",
            config={
                "command": "npx",
                "args": ["-y", "@linear/mcp"],
                "env": {"LINEAR_API_KEY": "lin_api_s3cret"},
            },
        )
        assert isinstance(mcp.config, EnvironmentMcpStdioConfig)
        assert mcp.config.env == {"LINEAR_API_KEY": "lin_api_s3cret"}
        assert "lin_api_s3cret" not in repr(mcp)
        # The API checks nested configs strictly: an unknown config field is its 400, not ours.
        with pytest.raises(BadRequestError) as caught:
            await client.environments.mcps.create(
                env.id, name="other", transport="stdio", config={"command": "npx", "workdir": "/tmp"}
            )
        assert not isinstance(caught.value, RequestValidationError)
        with pytest.raises(RequestValidationError):
            await client.environments.mcps.create(
                env.id, name="replicas-x", transport="stdio", config={"command": "x"}
            )
        moved = await client.environments.mcps.update(
            env.id,
            mcp.id,
            name="linear-http",
            transport="http",
            config={"url": "https://mcp.linear.app", "headers": {"Authorization": "Bearer lin_hdr_s3cret"}},
        )
        assert moved.transport == "http"
        assert isinstance(moved.config, EnvironmentMcpHttpConfig)
        assert "lin_hdr_s3cret" not in repr(await client.environments.mcps.list(env.id))
        await client.environments.mcps.delete(env.id, mcp.id)
        assert await client.environments.mcps.list(env.id) == []


async def test_warm_hook_test_save_and_save_test(client: ReplicasClient) -> None:
    env = await fresh_env(client, "warm")
    hooks = client.environments.warm_hooks
    with anyio.fail_after(DEADLINE):
        assert (await hooks.get(env.id)).warm_hook is None
        tested = await hooks.test(env.id, GOOD_SCRIPT)
        assert tested.succeeded
        assert "warming" in tested.output
        assert (await hooks.get(env.id)).warm_hook is None  # test never saves
        saved = await hooks.save(env.id, GOOD_SCRIPT)
        assert saved.content == GOOD_SCRIPT
        failed = await hooks.save_and_test(env.id, FAILING_SCRIPT)
        assert not failed.test.succeeded
        assert not failed.saved
        active = (await hooks.get(env.id)).warm_hook
        assert active is not None
        assert active.id == saved.id  # the failing script was not saved
        passed = await hooks.save_and_test(env.id, "echo ok\n")
        assert passed.saved
        active = (await hooks.get(env.id)).warm_hook
        assert active is not None
        assert active.content == "echo ok\n"


async def collect(events: AsyncIterator[HookStreamEvent]) -> list[HookStreamEvent]:
    return [event async for event in events]


async def test_warm_hook_stream_save_test(client: ReplicasClient) -> None:
    env = await fresh_env(client, "warm-stream")
    hooks = client.environments.warm_hooks
    with anyio.fail_after(DEADLINE):
        async with hooks.stream(env.id, GOOD_SCRIPT) as events:
            received = await collect(events)
        names = [event.event for event in received]
        assert names[0] == "progress"
        assert "output" in names
        assert names[-1] == "complete"
        assert names.count("complete") == 1
        assert received[-1].exit_code == 0
        saved = received[-1].warm_hook
        active = (await hooks.get(env.id)).warm_hook
        assert active is not None
        assert active.content == GOOD_SCRIPT
        assert saved is not None
        assert saved.id == active.id

        async with hooks.stream(env.id, FAILING_SCRIPT) as events:
            failing = await collect(events)
        assert failing[-1].event == "complete"
        assert failing[-1].exit_code != 0
        assert failing[-1].warm_hook is None
        still = (await hooks.get(env.id)).warm_hook
        assert still is not None
        assert still.content == GOOD_SCRIPT  # a failing save-test stream saves nothing

        async with hooks.stream(env.id, "echo only testing\n", mode="test_only") as events:
            test_only = await collect(events)
        assert test_only[-1].event == "complete"
        unchanged = (await hooks.get(env.id)).warm_hook
        assert unchanged is not None
        assert unchanged.content == GOOD_SCRIPT


async def test_hook_stream_provision_failure_ends_in_error(client: ReplicasClient) -> None:
    with anyio.fail_after(DEADLINE):
        async with client.environments.warm_hooks.stream("global", PROVISION_FAILURE_SCRIPT) as events:
            received = await collect(events)
    assert received[-1].event == "error"
    assert received[-1].is_terminal


async def test_start_hooks(client: ReplicasClient) -> None:
    env = await fresh_env(client, "start")
    hooks = client.environments.start_hooks
    with anyio.fail_after(DEADLINE):
        assert (await hooks.get(env.id)).start_hook is None
        saved = await hooks.save(env.id, "npm run dev &\n")
        assert saved is not None
        assert saved.content == "npm run dev &\n"
        current = (await hooks.get(env.id)).start_hook
        assert current is not None
        assert current.id == saved.id
        result = await hooks.test(env.id, "exit 7\n")
        assert result.exit_code == 7
        async with hooks.stream_test(env.id, "echo booting\n") as events:
            received = await collect(events)
        assert received[-1].event == "complete"
        assert any("booting" in (event.output or "") for event in received)
        assert await hooks.save(env.id, "") is None  # empty content clears
        assert (await hooks.get(env.id)).start_hook is None


async def test_repository_hooks_and_warm_pool(client: ReplicasClient) -> None:
    api_env = await seeded_env(client, "api")
    with anyio.fail_after(DEADLINE):
        warm = await client.environments.warm_hooks.repository_hooks(api_env.id)
        start = await client.environments.start_hooks.repository_hooks(api_env.id)
        assert "npm ci" in repr(warm)
        assert "npm run dev" in repr(start)
        committed = await client.environments.skills.repo_skills(api_env.id)
        assert committed.error is None
        assert "migrations" in {skill.name for skill in committed.repo_skills}
        pool = await client.environments.warm_pool.set(api_env.id, enabled=False)
        assert pool.enabled is False
        state = await client.environments.warm_hooks.get(api_env.id)
        assert state.warm_pool is not None
        assert state.warm_pool.enabled is False
        assert (await client.environments.warm_pool.set(api_env.id, enabled=True)).enabled


async def test_other_organization_cannot_see_environment(
    client: ReplicasClient, sandbox: RunningSandbox
) -> None:
    env = await fresh_env(client, "private")
    async with ReplicasClient(api_key=sandbox.other_org_key, base_url=sandbox.base_url) as other:
        with anyio.fail_after(DEADLINE), pytest.raises(NotFoundError):
            await other.environments.get(env.id)


async def test_leaving_a_hook_stream_early_closes_it(client: ReplicasClient) -> None:
    hooks = client.environments.start_hooks
    with anyio.fail_after(DEADLINE):
        async with hooks.stream_test("global", "sleep 30\necho done\n") as events:
            async for event in events:
                assert event.event == "progress"
                break
        # The connection was released: the same client keeps working.
        assert (await hooks.test("global", "echo again\n")).succeeded


async def test_hook_stream_on_missing_environment_raises_on_entry(client: ReplicasClient) -> None:
    # The spec lists 400 (not 404) for an unknown environment under nested routes; accept either.
    with anyio.fail_after(DEADLINE), pytest.raises((BadRequestError, NotFoundError)):
        async with client.environments.warm_hooks.stream("00000000-0000-4000-8000-000000000000", "echo x\n"):
            pytest.fail("the stream must not open")
