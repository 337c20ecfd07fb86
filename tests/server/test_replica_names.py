"""Model-eye s4 #2: a replica's name works wherever a tool takes its replica_id.

create_replica requires a name, so a model addresses the replica by it. A replica_id that is not a UUID is
looked up by name before the tool runs: one match is used (the result shows its name and id), several stop
the call with a list to choose from, none leave the tool's usual "not found".
"""

from __future__ import annotations

from replicas_mcp.client import ReplicasClient
from replicas_mcp.sandbox.serve import RunningSandbox

from ..helpers import text
from .helpers import bound_environment, call, call_error, connect, data, new_replica


async def test_a_name_reaches_the_replica_in_every_replica_tool(sandbox: RunningSandbox) -> None:
    async with connect(sandbox) as client:
        replica_id = await new_replica(client, "long-runner")
        shown = data(await call(client, "get_replica", {"replica_id": "long-runner"}))
        assert (shown["id"], shown["name"]) == (replica_id, "long-runner")
        sent = data(
            await call(client, "send_replica_message", {"replica_id": "long-runner", "message": "Add a test"})
        )
        assert sent["status"] == "sent"
        waited = text(
            await call(
                client, "wait_for_replica", {"replica_id": ["long-runner", replica_id], "timeout_s": 1}
            )
        )
        assert replica_id in waited
        assert "long-runner" in waited
        result = text(await call(client, "get_replica_result", {"replica_id": "long-runner"}))
        assert "long-runner" in result


async def test_a_name_several_replicas_share_asks_for_the_id(sandbox: RunningSandbox) -> None:
    async with connect(sandbox, confirm_destructive="never") as client:
        env = await bound_environment(client)
        first = await new_replica(client, "twin")
        async with ReplicasClient(api_key=sandbox.org_key, base_url=sandbox.base_url) as api:
            second = (await api.replicas.create(name="twin", message="Other work", environment_id=env)).id
        message = await call_error(client, "delete_replica", {"replica_id": "twin"})
        assert "2 replicas are named 'twin'" in message
        assert first in message
        assert second in message
        assert message.index(second) < message.index(first)  # newest first
        assert "created " in message
        assert data(await call(client, "get_replica", {"replica_id": first}))["status"] == "active"


async def test_a_name_no_replica_has_is_not_found_as_before(sandbox: RunningSandbox) -> None:
    async with connect(sandbox) as client:
        await new_replica(client, "someone")
        message = await call_error(client, "get_replica", {"replica_id": "nobody-here"})
        assert "No replica with that replica_id" in message
        assert "list_replicas" in message
