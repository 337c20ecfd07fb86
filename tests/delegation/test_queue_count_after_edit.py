"""A wait counts the messages still queued, after the queue was edited (findings-model #8): a message removed
from the queue is not counted again from the stream's older `chat.turn.accepted` events."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from mcp import Client

from replicas_mcp.sandbox.serve import RunningSandbox

from ..helpers import repo_environment
from .helpers import call as _call
from .helpers import sandbox_client, server

pytestmark = pytest.mark.usefixtures("fast_waits")


def _working(sandbox: RunningSandbox, replica_id: str) -> bool:
    found = sandbox.world.find_replica(replica_id)
    assert found is not None
    return any(chat.current is not None for chat in found[1].chats.values())


@pytest.mark.parametrize("resume", ["cursor", "fresh"])
async def test_a_wait_after_a_queued_message_was_removed_counts_the_ones_left(
    sandbox: RunningSandbox, resume: str
) -> None:
    async with sandbox_client(sandbox) as api, Client(server(sandbox, api, "all")) as client:
        env = await repo_environment(api)
        started = await _call(
            client, "delegate_task", environment_id=env, task="Long job [[slow:400]]", wait_s=0
        )
        [row] = started["replicas"]
        rid, cursor = row["replica_id"], row["cursor"]
        with anyio.fail_after(10):  # the agent is on its task: what is sent now waits in the queue
            while not _working(sandbox, rid):
                await anyio.sleep(0.02)
        sent = [
            await _call(client, "send_replica_message", replica_id=rid, message=f"Also step {n}")
            for n in (1, 2, 3)
        ]
        assert [s["status"] for s in sent] == ["queued"] * 3
        chat_id = sent[0]["chat_id"]
        queue = await _call(client, "get_chat_queue", replica_id=rid, chat_id=chat_id)
        first = queue["queue"][0]["id"]
        left = await _call(
            client, "edit_chat_queue", replica_id=rid, chat_id=chat_id, action="remove", message_id=first
        )
        assert len(left["queue"]) == 2, (queue["text"], left["text"])
        arguments: dict[str, Any] = {"cursor": cursor} if resume == "cursor" else {}
        waited = await _call(client, "wait_for_replica", replica_id=rid, timeout_s=1, **arguments)
    [row] = waited["replicas"]
    assert not row["done"]
    assert row["queued"] == 2, waited["text"]
    assert "2 queued" in waited["text"]
