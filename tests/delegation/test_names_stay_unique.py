"""A replica name finds one replica: create_replica does not make a second of a name in use, so delegate_task
with that name and the same task finds the replica it names (findings-model #7)."""

from __future__ import annotations

import anyio
import pytest
from mcp import Client
from mcp.types import TextContent

from replicas_mcp.sandbox.serve import RunningSandbox

from ..helpers import repo_environment
from .helpers import sandbox_client, server

pytestmark = pytest.mark.usefixtures("fast_waits")


def _named(sandbox: RunningSandbox, name: str) -> list[str]:
    return [r.id for r in sandbox.world.org("Acme").workspaces.replicas.values() if r.name == name]


async def test_create_replica_refuses_a_name_in_use_and_delegate_task_then_finds_the_first(
    sandbox: RunningSandbox,
) -> None:
    async with sandbox_client(sandbox) as api, Client(server(sandbox, api, "all")) as client:
        env = await repo_environment(api)
        args = {"name": "fix-login", "message": "Fix the login bug [[slow:100]]", "environment_id": env}
        with anyio.fail_after(30):
            first = await client.call_tool("create_replica", args)
            second = await client.call_tool("create_replica", {**args, "message": "Something else"})
            again = await client.call_tool(
                "delegate_task",
                {"environment_id": env, "task": args["message"], "name": "fix-login", "wait_s": 0},
            )
    assert not first.is_error, first.content
    assert first.structured_content is not None
    rid = first.structured_content["id"]
    assert second.is_error
    block = second.content[0]
    assert isinstance(block, TextContent)
    assert rid in block.text, block.text
    assert "nothing was created" in block.text
    assert f"send_replica_message(replica_id={rid!r})" in block.text
    assert _named(sandbox, "fix-login") == [rid]
    # The same name and task: the replica it names, not a "different task" error about a newer twin.
    assert not again.is_error, again.content
    assert again.structured_content is not None
    [row] = again.structured_content["replicas"]
    assert (row["replica_id"], row["created"]) == (rid, False)


async def test_delegate_task_with_a_name_in_use_in_another_environment_says_so_and_starts_nothing(
    sandbox: RunningSandbox,
) -> None:
    async with sandbox_client(sandbox) as api, Client(server(sandbox, api)) as client:
        first_env, other_env = [env.id for env in await api.environments.list()][:2]
        task = {"task": "Ship the release notes [[slow:100]]", "name": "ship-notes", "wait_s": 0}
        with anyio.fail_after(30):
            first = await client.call_tool("delegate_task", {"environment_id": first_env, **task})
            elsewhere = await client.call_tool("delegate_task", {"environment_id": other_env, **task})
            same = await client.call_tool("delegate_task", {"environment_id": first_env, **task})
    assert first.structured_content is not None
    rid = first.structured_content["replicas"][0]["replica_id"]
    assert elsewhere.is_error
    block = elsewhere.content[0]
    assert isinstance(block, TextContent)
    assert rid in block.text, block.text
    assert f"this task in environment {first_env}" in block.text, block.text
    assert "nothing was started" in block.text
    assert _named(sandbox, "ship-notes") == [rid]
    # In its own environment, the same name and task still find it.
    assert same.structured_content is not None
    assert same.structured_content["replicas"][0]["replica_id"] == rid


async def test_delegate_task_with_the_name_of_a_preparing_create_replica_and_another_task_is_refused(
    sandbox: RunningSandbox,
) -> None:
    # Right after create_replica the replica is preparing and its history cannot be read: what the server
    # remembers of the task it was created with is what tells another task from the same one.
    async with sandbox_client(sandbox) as api, Client(server(sandbox, api, "all")) as client:
        env = await repo_environment(api)
        args = {"name": "fix-login", "message": "Fix the login bug [[slow:100]]", "environment_id": env}
        with anyio.fail_after(30):
            first = await client.call_tool("create_replica", args)
            other = await client.call_tool(
                "delegate_task",
                {"environment_id": env, "task": "Rewrite the billing page", "name": "fix-login", "wait_s": 0},
            )
    assert first.structured_content is not None
    rid = first.structured_content["id"]
    assert first.structured_content["status"] == "preparing"
    assert other.is_error, other.content
    block = other.content[0]
    assert isinstance(block, TextContent)
    assert rid in block.text, block.text
    assert _named(sandbox, "fix-login") == [rid]
