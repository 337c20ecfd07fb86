"""A create that outlasts launch's bound is reported as a create of unknown outcome, never a bare timeout."""

from __future__ import annotations

import importlib

import pytest

from replicas_mcp.client.errors import CreateOutcomeUnknownError
from replicas_mcp.delegation.fanout import delegate_many
from replicas_mcp.delegation.launch import TaskSpec, launch
from replicas_mcp.sandbox.serve import RunningSandbox

from ..helpers import repo_environment
from .helpers import FAST, sandbox_client

# The package re-exports the function `launch` under the module's name.
launch_module = importlib.import_module("replicas_mcp.delegation.launch")


async def test_a_create_past_its_bound_is_an_unknown_outcome(
    sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(launch_module, "CREATE_TIMEOUT", 0.2)
    sandbox.faults.add_latency(2.0, route="/v1/replica", method="POST", when="after")
    async with sandbox_client(sandbox) as client:
        env = await repo_environment(client)
        with pytest.raises(CreateOutcomeUnknownError) as info:
            await launch(client, TaskSpec(env, "Write the docs", name="docs"))
    assert info.value.name == "docs"


async def test_a_slow_create_in_a_batch_is_that_row_s_error(
    sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(launch_module, "CREATE_TIMEOUT", 0.2)
    sandbox.faults.add_latency(2.0, route="/v1/replica", method="POST", when="after", times=1)
    async with sandbox_client(sandbox) as client:
        env = await repo_environment(client)
        specs = [TaskSpec(env, "Write the docs", name="docs"), TaskSpec(env, "Write tests", name="tests")]
        rows = await delegate_many(client, specs, max_parallel=2, wait=0, policy=FAST)
    assert sum(isinstance(row.error, CreateOutcomeUnknownError) for row in rows) == 1
    assert sum(row.replica is not None and row.created for row in rows) == 1
