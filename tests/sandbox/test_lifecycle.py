"""Lifecycle: preparing → active → sleeping when idle; waking; the terminal error state; policies."""

from __future__ import annotations

import pytest

from replicas_mcp.sandbox.serve import RunningSandbox, running_sandbox

from ..helpers import assert_error, eventually
from .sandbox_helpers import client, create_replica, details, list_item, send, wait_idle, wait_status

ENGINE_READS = ["chats", "history", "hooks", "canvas", "events"]


async def test_an_idle_replica_falls_asleep_and_a_read_wakes_it() -> None:
    async with running_sandbox(time_scale=0.05, idle_sleep_after=4) as sandbox, client(sandbox) as api:
        replica = await create_replica(api)
        await wait_idle(api, replica["id"])
        await wait_status(api, replica["id"], "sleeping")  # 4 simulated seconds = 0.2 s

        for path in ENGINE_READS:
            body = assert_error(
                await api.get(f"/v1/replica/{replica['id']}/{path}"), 409, "Workspace is sleeping"
            )
            assert "/wake" in str(body["details"])
        woken = await details(api, replica["id"])
        assert woken["waking"] is True
        assert woken["status"] == "preparing"
        await wait_status(api, replica["id"], "active")
        assert (await details(api, replica["id"]))["waking"] is False


async def test_wake_endpoint_wakes_a_sleeping_replica(sandbox: RunningSandbox) -> None:
    async with client(sandbox) as api:
        replica = await create_replica(api)
        await wait_idle(api, replica["id"])
        state = sandbox.world.org().workspaces
        state.force_status(state.get(replica["id"]), "sleeping")

        response = await api.post(f"/v1/replica/{replica['id']}/wake")
        assert response.status_code == 200
        assert response.json() == {"success": True, "waking": True, "status": "preparing"}
        await wait_status(api, replica["id"], "active")
        again = (await api.post(f"/v1/replica/{replica['id']}/wake")).json()
        assert again["waking"] is False
        assert again["status"] == "active"
        assert_error(await api.post("/v1/replica/00000000-0000-4000-8000-000000000000/wake"), 404)


async def test_a_message_wakes_a_sleeping_replica_and_runs_after_the_wake(sandbox: RunningSandbox) -> None:
    async with client(sandbox) as api:
        replica = await create_replica(api)
        await wait_idle(api, replica["id"])
        state = sandbox.world.org().workspaces
        state.force_status(state.get(replica["id"]), "sleeping")

        result = await send(api, replica["id"], "Also add tests")
        assert result["status"] == "waking"
        assert result["position"] is None
        assert result["message_id"]
        await wait_idle(api, replica["id"], turns=2)


@pytest.mark.sandbox_mode(strict=False)  # the lenient sandbox's extensions (docs/sandbox.md)
async def test_the_error_state_is_terminal_and_409s_say_so(sandbox: RunningSandbox) -> None:
    async with client(sandbox) as api:
        replica = await create_replica(api)
        await wait_idle(api, replica["id"])
        await send(api, replica["id"], "Build everything [[error: OOM during the build]]")
        await wait_status(api, replica["id"], "error")

        for path in ENGINE_READS:
            body = assert_error(
                await api.get(f"/v1/replica/{replica['id']}/{path}"), 409, "Workspace is in error state"
            )
            assert body["details"] == "OOM during the build"
        assert_error(await api.post(f"/v1/replica/{replica['id']}/messages", json={"message": "hi"}), 409)
        assert_error(await api.post(f"/v1/replica/{replica['id']}/wake"), 409, "Workspace is in error state")
        still = await details(api, replica["id"])  # readable, never woken
        assert still["status"] == "error"
        assert still["waking"] is False
        assert still["error_message"] == "OOM during the build"
        assert (await api.delete(f"/v1/replica/{replica['id']}")).status_code == 200


@pytest.mark.parametrize(
    ("policy", "final"), [("sleep_when_done", "sleeping"), ("archive_when_done", "archived")]
)
async def test_when_done_policies_put_the_replica_away_after_its_work(
    sandbox: RunningSandbox, policy: str, final: str
) -> None:
    async with client(sandbox) as api:
        replica = await create_replica(api, lifecycle_policy=policy)
        await wait_status(api, replica["id"], final)


async def test_delete_when_done_deletes_the_replica_after_its_work(sandbox: RunningSandbox) -> None:
    async with client(sandbox) as api:
        replica = await create_replica(api, lifecycle_policy="delete_when_done")

        async def gone() -> bool:
            return await list_item(api, replica["id"]) is None

        await eventually(gone)
        assert_error(await api.get(f"/v1/replica/{replica['id']}"), 404)


async def test_delete_after_inactivity_deletes_instead_of_sleeping() -> None:
    async with running_sandbox(time_scale=0.05, idle_sleep_after=4) as sandbox, client(sandbox) as api:
        replica = await create_replica(api, lifecycle_policy="delete_after_inactivity")
        await wait_idle(api, replica["id"])

        async def gone() -> bool:
            return await list_item(api, replica["id"]) is None

        await eventually(gone)


async def test_the_sleep_directive_puts_the_workspace_to_sleep_after_the_turn(
    sandbox: RunningSandbox,
) -> None:
    async with client(sandbox) as api:
        replica = await create_replica(api, message="Do it then rest [[sleep]]")
        await wait_status(api, replica["id"], "sleeping")
