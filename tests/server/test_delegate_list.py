"""delegate_task with a list: the next step says what happened when none of the tasks could start."""

from __future__ import annotations

from replicas_mcp.sandbox.serve import RunningSandbox

from .helpers import bound_environment, call, connect, data, new_replica


async def test_a_list_of_which_nothing_started_does_not_say_all_done(sandbox: RunningSandbox) -> None:
    async with connect(sandbox) as client:
        env = await bound_environment(client)
        for n in (1, 2):  # the names the list would use, taken by other tasks (awake: their task is read)
            await new_replica(client, f"dup-{n}", "Something else")
        result = data(
            await call(
                client,
                "delegate_task",
                {"environment_id": env, "task": ["Write docs", "Add tests"], "name": "dup", "wait_s": 0},
            )
        )
    assert [row["state"] for row in result["replicas"]] == ["name_taken", "name_taken"]
    assert "All done" not in result["next"], result["next"]
    assert result["next"].startswith("Nothing was started: dup-1, dup-2")
