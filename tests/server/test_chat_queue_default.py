"""Model-eye s4 #15: get_chat_queue defaults to the chat send_replica_message queues in, as
send_replica_message and read_replica_history default their chat_id."""

from __future__ import annotations

import anyio

from replicas_mcp.sandbox.serve import RunningSandbox

from .helpers import bound_environment, call, connect, data


def _working(sandbox: RunningSandbox, replica_id: str) -> bool:
    found = sandbox.world.find_replica(replica_id)
    assert found is not None
    return any(chat.current is not None for chat in found[1].chats.values())


async def test_the_queue_without_a_chat_id_is_the_busy_chats(sandbox: RunningSandbox) -> None:
    async with connect(sandbox, toolsets=("all",)) as client:
        env = await bound_environment(client)
        created = data(
            await call(
                client,
                "create_replica",
                {"name": "busy", "message": "Long job [[slow:400]]", "environment_id": env},
            )
        )
        rid = created["id"]
        with anyio.fail_after(10):  # the agent is on its task: what is sent now waits in the queue
            while not _working(sandbox, rid):
                await anyio.sleep(0.02)
        sent = data(await call(client, "send_replica_message", {"replica_id": rid, "message": "Also docs"}))
        assert sent["status"] == "queued"
        queue = data(await call(client, "get_chat_queue", {"replica_id": rid}))
    assert queue["chat_id"] == sent["chat_id"]
    assert [m["message"] for m in queue["queue"]] == ["Also docs"]
