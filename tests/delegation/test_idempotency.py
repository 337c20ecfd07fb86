"""Honest idempotency: a name is reused for the same task only; another task under it is an error."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.types import TextContent

from replicas_mcp.delegation.launch import task_fingerprint
from replicas_mcp.delegation.memory import PROCESS_MEMORY
from replicas_mcp.sandbox.serve import RunningSandbox

from ..helpers import force_status, repo_environment
from .helpers import sandbox_client, server

pytestmark = pytest.mark.usefixtures("fast_waits")


async def _delegate(client: Client, **arguments: Any) -> tuple[bool, dict[str, Any], str]:
    with anyio.fail_after(30):
        result = await client.call_tool("delegate_task", arguments)
    block = result.content[0]
    assert isinstance(block, TextContent)
    return result.is_error, result.structured_content or {}, block.text


def test_a_task_is_compared_as_the_agent_receives_it() -> None:
    assert task_fingerprint("Write  the docs\n") == task_fingerprint("Write the docs")
    assert task_fingerprint("/plan Write the docs") == task_fingerprint("Write the docs")
    assert task_fingerprint("Write the docs") != task_fingerprint("Write the tests")


@pytest.mark.parametrize("remembered", [True, False], ids=["started-here", "read-from-history"])
async def test_the_same_name_serves_the_same_task_only(sandbox: RunningSandbox, remembered: bool) -> None:
    async with sandbox_client(sandbox) as api, Client(server(sandbox, api)) as client:
        env = await repo_environment(api)
        failed, first, _ = await _delegate(
            client, environment_id=env, task="Write docs", name="docs", wait_s=10
        )
        assert not failed
        [row] = first["replicas"]
        assert row["created"]
        if not remembered:  # another server process started it: the task is read from its history
            PROCESS_MEMORY.forget("task", row["replica_id"])
        failed, again, _ = await _delegate(
            client, environment_id=env, task="Write   docs", name="docs", wait_s=0
        )
        assert not failed
        assert [(r["replica_id"], r["created"]) for r in again["replicas"]] == [(row["replica_id"], False)]
        failed, _, error = await _delegate(
            client, environment_id=env, task="Write the tests", name="docs", wait_s=0
        )
        replicas = [item async for item in api.replicas.iter()]
    assert failed
    assert "docs" in error
    assert row["replica_id"] in error
    assert "send_replica_message" in error
    assert "another name" in error
    assert len(replicas) == 1  # the other task did not start, and nothing else did


async def test_a_list_reports_the_task_whose_name_is_taken(sandbox: RunningSandbox) -> None:
    async with sandbox_client(sandbox) as api, Client(server(sandbox, api)) as client:
        env = await repo_environment(api)
        failed, _, _ = await _delegate(client, environment_id=env, task=["A", "B"], name="pair", wait_s=5)
        assert not failed
        failed, again, _ = await _delegate(client, environment_id=env, task=["A", "C"], name="pair", wait_s=0)
        replicas = [item async for item in api.replicas.iter()]
    assert not failed
    first, second = again["replicas"]
    assert not first["created"]
    assert second["state"] == "name_taken"
    assert second.get("replica_id") is None  # not a replica to join: another task's
    assert "send_replica_message" in second["news"][0]
    assert "Not started: pair-2" in again["next"]
    assert len(replicas) == 2


async def test_a_sleeping_replica_is_not_woken_to_compare_its_task(sandbox: RunningSandbox) -> None:
    async with sandbox_client(sandbox) as api:
        env = await repo_environment(api)
        async with Client(server(sandbox, api)) as client:
            _, first, _ = await _delegate(
                client, environment_id=env, task="Write docs", name="nap", wait_s=10
            )
        [row] = first["replicas"]
        await force_status(sandbox, row["replica_id"], "sleeping")
        PROCESS_MEMORY.forget("task", row["replica_id"])
        async with Client(server(sandbox, api)) as client:  # a server that did not start it
            failed, again, error = await _delegate(
                client, environment_id=env, task="Other", name="nap", wait_s=0
            )
        status = await api.replicas.status(row["replica_id"])
    assert not failed, error  # the name decides: its task cannot be read without waking it
    assert again["replicas"][0]["replica_id"] == row["replica_id"]
    assert status is not None
    assert status.status == "sleeping"
