"""A wait reports "done" only when nothing is left for the agent: never while a message is queued."""

from __future__ import annotations

import anyio
import pytest
from mcp import Client

from replicas_mcp.sandbox.serve import RunningSandbox

from ..helpers import repo_environment
from .helpers import call, sandbox_client, server

pytestmark = pytest.mark.usefixtures("fast_waits")


def _chat_state(sandbox: RunningSandbox, replica_id: str) -> tuple[int, int, list[str]]:
    """(turns completed, messages queued, user messages the agent has started on) in the sandbox."""
    found = sandbox.world.find_replica(replica_id)
    assert found is not None
    replica = found[1]
    chats = list(replica.chats.values())
    if not chats:
        return 0, 0, []
    [chat] = chats
    started = [
        block["text"]
        for event in chat.history
        if event["type"] == "claude-user"
        for block in event["payload"]["message"]["content"]
        if block.get("type") == "text"
    ]
    return replica.turns_completed, len(chat.queue), started


async def test_a_correction_sent_while_busy_is_done_only_after_it_ran(sandbox: RunningSandbox) -> None:
    async with sandbox_client(sandbox) as api, Client(server(sandbox, api)) as client:
        env = await repo_environment(api)
        started = await call(
            client, "delegate_task", environment_id=env, task="Add caching [[slow:100]]", wait_s=0
        )
        [row] = started["replicas"]
        rid, cursor = row["replica_id"], row["cursor"]
        # Once the agent is busy on the task, correct it through the queue.
        with anyio.fail_after(10):
            while _chat_state(sandbox, rid)[2] == []:
                await anyio.sleep(0.02)
        sent = await call(
            client, "send_replica_message", replica_id=rid, message="Use Redis, not memcached", mode="next"
        )
        assert sent["status"] == "queued"
        results = []
        with anyio.fail_after(30):
            while True:
                waited = await call(client, "wait_for_replica", replica_id=rid, timeout_s=1, cursor=cursor)
                [row] = waited["replicas"]
                results.append((row, waited["text"], _chat_state(sandbox, rid)))
                cursor = row["cursor"]
                if row["done"]:
                    break
        report = await call(client, "get_replica_result", replica_id=rid)
    # While the correction waited in the queue, no wait said done, and the results said it was queued.
    early = [(row, text) for row, text, (turns, queued, _) in results if queued]
    assert early, "the first wait returns while the correction is still queued"
    assert all(not row["done"] and row["queued"] == 1 and "1 queued" in text for row, text in early)
    assert all("Next: Done" not in text for _, text in early)
    # When a wait finally said done, the correction had run and nothing was left.
    final, text, (turns, queued, messages) = results[-1]
    assert final["state"] == "idle"
    assert final["queued"] == 0
    assert (turns, queued) == (2, 0)
    assert messages[-1] == "Use Redis, not memcached"
    assert "Next: Done" in text
    assert report["outcome"] == "completed"
    assert "Use Redis" in report["message"]
