"""A watch's background work never takes the server down, whatever an upstream read raises."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from replicas_mcp.client.models import ReplicaPage
from replicas_mcp.sandbox.serve import RunningSandbox
from replicas_mcp.server.caller import SERVER_CALLER

from ..state.helpers import add_sleeping_replicas, watching

POLL = 0.05


@pytest.mark.parametrize("step", ["awake", "census"])
async def test_a_bulk_poll_step_whose_list_read_breaks_does_not_end_the_lifespans_task_group(
    sandbox: RunningSandbox, step: str
) -> None:
    # A 200 whose body does not fit the model (an API change, a proxy) raises pydantic's ValidationError,
    # not a ReplicasError. The bulk poll (its awake sweep, then its census of sleeping replicas) runs in the
    # lifespan's task group: raised there, it would cancel every watch, stream and the server's lifespan.
    [replica_id] = add_sleeping_replicas(sandbox, 1, prefix="napping")
    breaks = 0

    async def broken(*args: Any, **kwargs: Any) -> Any:
        nonlocal breaks
        breaks += 1
        return ReplicaPage.model_validate({"replicas": "not a list"})

    async with watching(sandbox, poll=POLL) as seen:
        seen.watch([replica_id])
        await anyio.sleep(4 * POLL)  # the watch found it asleep and waits for the bulk poll
        setattr(seen.directory, step, broken)
        with anyio.fail_after(10):
            while breaks < 3:  # the poll goes on after a failure, and the task group is still up
                await anyio.sleep(POLL)
        assert (SERVER_CALLER, replica_id) in seen.watcher.watched
