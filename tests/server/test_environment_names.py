"""An environment may be named where an id is taken (model-eye review, session 4, #2): every tool that
takes an `environment_id` uses the one environment with that name; several or none is an error that lists
them by name and id, and never sends a task to `global` (a workspace with no repository)."""

from __future__ import annotations

import inspect

from replicas_mcp.client import ReplicasClient
from replicas_mcp.sandbox.serve import RunningSandbox
from replicas_mcp.server.tools import all_tools

from .helpers import call, call_error, connect, data

UNKNOWN_UUID = "00000000-0000-4000-8000-000000000000"


async def _replica_names(api: ReplicasClient) -> set[str]:
    return {item.name for item in (await api.replicas.list(limit=100)).replicas}


async def test_a_name_is_used_as_that_environment(sandbox: RunningSandbox) -> None:
    async with (
        ReplicasClient(api_key=sandbox.org_key, base_url=sandbox.base_url, max_retries=0) as api,
        connect(sandbox, toolsets=("replicas", "environments")) as client,
    ):
        api_env = next(env for env in await api.environments.list() if env.name == "api")
        created = data(
            await call(
                client,
                "create_replica",
                {"name": "by-env-name", "message": "Fix the login timeout", "environment_id": "api"},
            )
        )
        details = await api.replicas.get(created["id"])
        bound = next(r.name for r in await api.repositories.list() if r.id == api_env.repository_id)
        assert [r.name for r in details.repositories] == [bound], "it runs in the environment named 'api'"

        # The same rule in the environments toolset (and, ignoring case, for a name with no exact match).
        view = data(await call(client, "get_environment", {"environment_id": "API"}))
        assert view["id"] == api_env.id


async def test_an_unknown_name_lists_the_environments_and_starts_nothing(sandbox: RunningSandbox) -> None:
    async with (
        ReplicasClient(api_key=sandbox.org_key, base_url=sandbox.base_url, max_retries=0) as api,
        connect(sandbox) as client,
    ):
        before = await _replica_names(api)
        message = await call_error(client, "delegate_task", {"environment_id": "backend", "task": "Tidy"})
        for env in await api.environments.list():
            assert f"{env.name} = {env.id}" in message, f"{env.name} is listed with its id: {message}"
        assert "use 'global'" not in message
        assert "backend" not in message, "the value given is not repeated"
        assert await _replica_names(api) == before, "nothing was started"


async def test_an_unknown_id_lists_the_environments_instead_of_pointing_to_global(
    sandbox: RunningSandbox,
) -> None:
    async with (
        ReplicasClient(api_key=sandbox.org_key, base_url=sandbox.base_url, max_retries=0) as api,
        connect(sandbox, toolsets=("replicas", "environments")) as client,
    ):
        before = await _replica_names(api)
        delegated = await call_error(
            client, "delegate_task", {"environment_id": UNKNOWN_UUID, "task": "Tidy"}
        )
        read = await call_error(client, "get_environment", {"environment_id": UNKNOWN_UUID})
        for message in (delegated, read):
            assert "No environment has that id" in message
            assert "api = " in message
            assert "'global'" not in message
            assert UNKNOWN_UUID not in message
        assert await _replica_names(api) == before
        # A fan-out reports it per task (and never advises 'global' either).
        fanned = await call(client, "delegate_task", {"environment_id": UNKNOWN_UUID, "task": ["A", "B"]})
        rows = data(fanned)["replicas"]
        assert [row["state"] for row in rows] == ["failed_to_start", "failed_to_start"]
        assert "'global'" not in str(rows), rows

        # An environment that exists, with an item that does not: the usual error, about the item.
        api_env = next(env.id for env in await api.environments.list() if env.name == "api")
        removed = data(
            await call(
                client, "remove_environment_item", {"environment_id": api_env, "kind": "mcp", "item": "nope"}
            )
        )
        assert "already absent" in removed["message"]


async def test_several_matching_names_are_listed(sandbox: RunningSandbox) -> None:
    async with (
        ReplicasClient(api_key=sandbox.org_key, base_url=sandbox.base_url, max_retries=0) as api,
        connect(sandbox, toolsets=("environments",)) as client,
    ):
        upper = await api.environments.create(name="Ops")
        lower = await api.environments.create(name="OPS")
        message = await call_error(client, "get_environment", {"environment_id": "ops"})
        assert "2 environments have that name" in message
        assert f"Ops = {upper.id}" in message
        assert f"OPS = {lower.id}" in message
        # An exact match is the one meant.
        assert data(await call(client, "get_environment", {"environment_id": "OPS"}))["id"] == lower.id


def test_every_tool_taking_an_environment_id_resolves_names() -> None:
    takers = {
        spec.name: dict(spec.resolved_args)
        for spec in all_tools()
        if "environment_id" in inspect.signature(spec.fn).parameters
    }
    assert {"delegate_task", "create_replica", "save_automation", "get_environment"} <= set(takers)
    unresolved = sorted(name for name, resolved in takers.items() if "environment_id" not in resolved)
    assert not unresolved, f"these take an environment_id but not a name: {unresolved}"


async def test_environment_rows_name_their_repository_from_one_cached_lookup(sandbox: RunningSandbox) -> None:
    repositories = "GET /v1/replica/repositories"
    async with (
        ReplicasClient(api_key=sandbox.org_key, base_url=sandbox.base_url, max_retries=0) as api,
        connect(sandbox) as client,
    ):
        names = {repo.id: repo.name for repo in await api.repositories.list()}
        before = sandbox.faults.stats.requests[repositories]
        rows = data(await call(client, "list_environments"))["environments"]
        by_name = {row["name"]: row for row in rows}
        assert by_name["api"]["repository"] == names[by_name["api"]["repository_id"]]
        assert by_name["api"]["repository"].endswith("/api")
        assert "repository" not in by_name["platform"], "a repository set has no one repository"
        assert sandbox.faults.stats.requests[repositories] == before + 1

        for _ in range(3):
            again = data(await call(client, "list_environments"))["environments"]
            assert again == rows
        assert sandbox.faults.stats.requests[repositories] == before + 1, "later calls reuse the lookup"

        # The description promises what the rows carry (no variables, files or hooks).
        tool = next(t for t in (await client.list_tools()).tools if t.name == "list_environments")
        assert "repository" in (tool.description or "")
        for promised in ("variables", "files", "hooks"):
            assert promised not in (tool.description or "")
