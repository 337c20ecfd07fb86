"""A replica woken without a message runs no turn: a wait on it ends once it is awake and idle, not at its
timeout (no turn event will ever say it booted)."""

from __future__ import annotations

import anyio
import pytest

from replicas_mcp.sandbox.serve import RunningSandbox

from ..helpers import force_status
from ..server.helpers import connect, data

pytestmark = pytest.mark.usefixtures("fast_waits")


async def test_a_wait_after_waking_a_sleeping_replica_ends_when_it_is_awake(sandbox: RunningSandbox) -> None:
    async with connect(sandbox) as client:
        task = {"environment_id": "global", "task": "Hi", "wait_s": 30}
        run = data(await client.call_tool("delegate_task", task))
        rid = run["replicas"][0]["replica_id"]
        assert run["replicas"][0]["done"], run
        await force_status(sandbox, rid, "sleeping")
        woken = data(await client.call_tool("get_replica", {"replica_id": rid, "wake": True}))
        assert woken["status"] == "waking", woken
        with anyio.fail_after(60):  # a hang guard, well past the wait's own bound
            waited = data(await client.call_tool("wait_for_replica", {"replica_id": rid, "timeout_s": 30}))
    row = waited["replicas"][0]
    assert row["done"], waited
    assert row["state"] != "preparing", waited
