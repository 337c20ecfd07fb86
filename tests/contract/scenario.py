"""A broad walk through the client's surface, for the contract test to record and validate."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable

import anyio

from replicas_mcp.client import ReplicasClient
from replicas_mcp.client.errors import ReplicasError
from replicas_mcp.client.models.automations import AutomationTrigger
from replicas_mcp.sandbox.world import World


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    """Poll an async check until it returns true (the clock is scaled, so this is quick)."""
    with anyio.fail_after(timeout):
        while not await check():
            await anyio.sleep(0.02)


async def replicas_and_chats(client: ReplicasClient, world: World) -> None:
    environments = await client.environments.list()
    api_env = next(env for env in environments if env.name == "api")
    replica = await client.replicas.create(
        name="contract-walk",
        message="Add a health endpoint [[pr]] [[canvas:markdown]]",
        environment_id=api_env.id,
        lifecycle_policy="default",
        webhook_url={"url": "http://127.0.0.1:9/hook", "secret": "s3cret"},
    )
    async with client.events.stream(replica.id, last_event_id="0") as events:
        async for event in events:
            if event.type == "chat.turn.completed":
                break
    await client.replicas.list(limit=5)
    await client.replicas.list(status="active")
    await client.replicas.get(replica.id, include=["environment", "diffs"])
    chats = await client.chats.list(replica.id)
    chat_id = chats[0].id
    await client.history.read(replica.id, limit=20)
    await client.history.read(replica.id, chat_id=chat_id, limit=5, offset=1)
    await client.canvas.list(replica.id)
    items = await client.canvas.list(replica.id)
    if items:
        await client.canvas.get(replica.id, items[0].filename)
    await client.hooks.get(replica.id)

    # A queue: a slow turn, then two more messages wait behind it.
    await client.replicas.send_message(replica.id, "Take your time [[slow:30]]", chat_id=chat_id)
    await client.replicas.send_message(replica.id, "Then this [[no-changes]]", chat_id=chat_id)
    second = await client.replicas.send_message(replica.id, "And this [[no-changes]]", chat_id=chat_id)
    await client.queue.get(replica.id, chat_id)
    assert second.message_id is not None
    await client.queue.reorder(replica.id, chat_id, second.message_id, 0)
    await client.queue.remove(replica.id, chat_id, second.message_id)
    await client.queue.clear(replica.id, chat_id)

    # A question: the turn waits for the answer.
    extra = await client.chats.create(replica.id, provider="claude", title="Side questions")
    await client.replicas.send_message(replica.id, "Which DB? [[ask: Postgres or MySQL?]]", chat_id=extra.id)
    await anyio.sleep(0.3)
    await client.chats.list(replica.id)
    await client.history.read(replica.id, chat_id=extra.id)
    await client.replicas.send_message(replica.id, "Postgres", chat_id=extra.id)
    await client.chats.delete(replica.id, extra.id)

    # Sleeping: reads answer per the wake behaviour; the replica wakes on a message.
    world.org().workspaces.force_status(world.org().workspaces.get(replica.id), "sleeping")
    for read in (client.chats.list, client.canvas.list, client.hooks.get):
        with contextlib.suppress(ReplicasError):
            await read(replica.id)
    with contextlib.suppress(ReplicasError):
        await client.history.read(replica.id)
    await client.replicas.status(replica.id)
    await client.replicas.wake_and_wait(replica.id, timeout=10, poll_interval=0.05)

    # Failure: the workspace dies mid-turn.
    global_env = next(env for env in environments if env.is_global)
    doomed = await client.replicas.create(
        name="contract-doomed",
        message="Build it [[error: out of memory]]",
        environment_id=global_env.id,
        lifecycle_policy="sleep_when_done",
    )

    async def failed() -> bool:
        item = await client.replicas.status(doomed.id)
        return item is not None and item.status == "error"

    await until(failed)
    await client.replicas.get(doomed.id)
    with contextlib.suppress(ReplicasError):
        await client.chats.list(doomed.id)
    await client.replicas.delete(doomed.id)
    await client.replicas.delete(replica.id)
    with contextlib.suppress(ReplicasError):
        await client.replicas.get(replica.id)


async def environments(client: ReplicasClient) -> None:
    await client.repositories.list()
    sets = await client.repositories.list_sets()
    repositories = await client.repositories.list()
    env = await client.environments.create(
        name="contract-env", description="for the contract walk", repository_id=repositories[0].id
    )
    await client.environments.get(env.id)
    await client.environments.get("global")
    await client.environments.list(scope="all")
    await client.environments.update(env.id, description="changed", system_prompt="Be brief.")
    await client.environments.update(env.id, repository_id=None, repository_set_id=sets[0].id)
    variable = await client.environments.variables.create(env.id, key="API_TOKEN", value="t0ken")
    await client.environments.variables.list(env.id)
    await client.environments.variables.update(env.id, variable.id, value="t0ken2")
    await client.environments.variables.delete(env.id, variable.id)
    file = await client.environments.files.create(env.id, name="npmrc", path="~/.npmrc", content="x=1\n")
    await client.environments.files.list(env.id)
    await client.environments.files.update(env.id, file.id, content="x=2\n")
    await client.environments.files.delete(env.id, file.id)
    found = await client.environments.skills.search("postgres")
    skill = await client.environments.skills.enable(
        env.id, name=found[0].name, slug=found[0].slug, source=found[0].source
    )
    await client.environments.skills.list(env.id)
    await client.environments.skills.disable(env.id, skill.id)
    await client.environments.skills.repo_skills(env.id)
    registry = await client.environments.skill_registries.add(
        env.id, url="https://github.com/anthropics/skills"
    )
    await client.environments.skill_registries.list(env.id)
    await client.environments.skill_registries.remove(env.id, registry.id)
    http_mcp = await client.environments.mcps.create(
        env.id, name="docs", transport="http", config={"url": "https://docs.example.com/mcp"}
    )
    stdio_mcp = await client.environments.mcps.create(
        env.id, name="local", transport="stdio", config={"command": "npx", "args": ["-y", "srv"]}
    )
    await client.environments.mcps.list(env.id)
    await client.environments.mcps.update(
        env.id, http_mcp.id, transport="http", config={"url": "https://docs.example.com/v2"}
    )
    await client.environments.mcps.update(env.id, stdio_mcp.id, name="local2")
    await client.environments.mcps.delete(env.id, http_mcp.id)
    await client.environments.warm_hooks.get(env.id)
    await client.environments.warm_hooks.test(env.id, "echo warm")
    await client.environments.warm_hooks.save(env.id, "npm ci")
    await client.environments.warm_hooks.save_and_test(env.id, "npm ci")
    await client.environments.start_hooks.get(env.id)
    await client.environments.start_hooks.test(env.id, "echo start")
    await client.environments.start_hooks.save(env.id, "npm run dev &")
    async with client.environments.start_hooks.stream_test(env.id, "echo hi") as events:
        async for _ in events:
            pass
    await client.environments.warm_pool.set(env.id, enabled=False)
    await client.environments.delete(env.id)


async def personal(client: ReplicasClient) -> None:
    """A member's personal key: user ids on replicas, environments and automations are UUIDs."""
    environments = await client.environments.list()
    api_env = next(env for env in environments if env.name == "api")
    mine = await client.environments.create(name="my-env", scope="user", source_environment_id=api_env.id)
    await client.environments.list(scope="user")
    replica = await client.replicas.create(
        name="mine", message="Tidy up [[no-changes]]", environment_id=mine.id
    )
    await client.replicas.list()
    automation = await client.automations.create(
        name="my-nightly",
        prompt="Check my branch",
        environment_id=mine.id,
        triggers=[AutomationTrigger.cron("0 4 * * *")],
        scope="user",
    )
    await client.automations.get(automation.id)
    await client.automations.delete(automation.id)
    await client.replicas.delete(replica.id)
    await client.environments.delete(mine.id)


async def automations(client: ReplicasClient) -> None:
    environments = await client.environments.list()
    api_env = next(env for env in environments if env.name == "api")
    cron = await client.automations.create(
        name="nightly",
        prompt="Update dependencies [[no-changes]]",
        environment_id=api_env.id,
        triggers=[AutomationTrigger.cron("0 3 * * *", timezone="UTC")],
        description="Nightly upkeep",
        workspace_lifecycle_policy="default",
    )
    github = await client.automations.create(
        name="pr-review",
        prompt="Review the pull request",
        environment_id=api_env.id,
        triggers=[AutomationTrigger.github("pull_request.opened")],
    )
    custom = await client.automations.create(
        name="hooked",
        prompt="Handle the webhook",
        environment_id=api_env.id,
        triggers=[{"type": "custom", "config": {}}],
    )
    await client.automations.list()
    await client.automations.get(cron.id)
    await client.automations.update(cron.id, description="Nightly upkeep, v2", enabled=True)
    await client.automations.update(cron.id, workspace_size="large", debounce_seconds=None)
    execution = await client.automations.trigger(cron.id, {"reason": "contract walk"})
    del execution
    await client.automations.executions(cron.id)
    for automation in (cron, github, custom):
        await client.automations.delete(automation.id)
