"""A replica that went to sleep is read without being woken, and a message that wakes it is waited for.

Reads of a sleeping replica's details, chats or history wake it (the guide's rule; the contract's
`waking: true` reads too): nothing the server does on its own may make such a read. And once a message
woke it, a wait must not answer from what was known of it while it slept.
"""

from __future__ import annotations

import anyio
import pytest
from mcp import Client

from replicas_mcp.sandbox.serve import RunningSandbox

from ..helpers import repo_environment
from .helpers import call as _call
from .helpers import sandbox_client, server

pytestmark = pytest.mark.usefixtures("fast_waits")

DETAILS = "/v1/replica/{id}"
BOTH_WAKE_BEHAVIOURS = pytest.mark.parametrize("sandbox_wake_reads", ["guide", "contract"])


def _upstream(sandbox: RunningSandbox, replica_id: str) -> tuple[str, int, int]:
    """(status, turns completed, messages queued or waiting for the wake) as the sandbox holds them."""
    found = sandbox.world.find_replica(replica_id)
    assert found is not None
    replica = found[1]
    queued = sum(len(chat.queue) + (chat.current is not None) for chat in replica.chats.values())
    return replica.status, replica.turns_completed, queued


async def _asleep_after_its_turn(sandbox: RunningSandbox, client: Client, env: str) -> str:
    """A replica delegated with `[[sleep]]`: its turn ran, then its workspace slept."""
    started = await _call(client, "delegate_task", environment_id=env, task="Quick job [[sleep]]", wait_s=20)
    rid = str(started["replicas"][0]["replica_id"])
    with anyio.fail_after(10):
        while _upstream(sandbox, rid)[:2] != ("sleeping", 1):
            await anyio.sleep(0.02)
    return rid


@BOTH_WAKE_BEHAVIOURS
async def test_delegating_a_task_after_which_the_workspace_sleeps_reports_it_asleep_without_waking_it(
    sandbox: RunningSandbox,
) -> None:
    async with sandbox_client(sandbox) as api, Client(server(sandbox, api)) as client:
        env = await repo_environment(api)
        details_before = sandbox.faults.stats.count("GET", DETAILS)
        started = await _call(
            client, "delegate_task", environment_id=env, task="Quick job [[sleep]]", wait_s=20
        )
        [row] = started["replicas"]
        rid = row["replica_id"]
        await anyio.sleep(0.5)  # a wake started by a read would show by now (wake: 0.05 s here)
        status, turns, _ = _upstream(sandbox, rid)
        report = await _call(client, "get_replica_result", replica_id=rid)
        status_after_report, _, _ = _upstream(sandbox, rid)
    assert sandbox.faults.stats.count("GET", DETAILS) == details_before, "a details read wakes the replica"
    assert (status, turns) == ("sleeping", 1)
    assert status_after_report == "sleeping", "get_replica_result never wakes the replica"
    # One state, said once: the turn is over and the replica is asleep.
    assert row["done"]
    assert row["state"] == "sleeping"
    text = started["text"]
    assert [word for word in ("working", "preparing", "idle") if word in text] == [], text
    assert "Next: To read its final message without a new turn" in text, text
    assert report["outcome"] == "sleeping"


async def _read_while_asleep(client: Client, how: str, replica_id: str) -> None:
    if how == "wait":
        waited = await _call(client, "wait_for_replica", replica_id=replica_id, timeout_s=5)
        assert waited["replicas"][0]["state"] == "sleeping"
    elif how == "resource":
        resource = await client.read_resource(f"replicas://replicas/{replica_id}")
        assert "sleeping" in resource.contents[0].text  # type: ignore[union-attr]
    else:
        assert (await _call(client, "get_replica_result", replica_id=replica_id))["outcome"] == "sleeping"
        await _call(client, "get_replica", replica_id=replica_id)


@BOTH_WAKE_BEHAVIOURS
@pytest.mark.parametrize("read", ["wait", "resource", "report"])
async def test_a_wait_after_a_message_woke_a_replica_that_was_read_asleep_lasts_until_the_message_ran(
    sandbox: RunningSandbox, read: str
) -> None:
    async with sandbox_client(sandbox) as api, Client(server(sandbox, api)) as client:
        env = await repo_environment(api)
        rid = await _asleep_after_its_turn(sandbox, client, env)
        await _read_while_asleep(client, read, rid)
        assert _upstream(sandbox, rid)[:2] == ("sleeping", 1)
        sent = await _call(client, "send_replica_message", replica_id=rid, message="Summarize [[slow:60]]")
        assert sent["status"] == "waking"
        rows = []
        with anyio.fail_after(40):
            while True:
                waited = await _call(client, "wait_for_replica", replica_id=rid, timeout_s=1)
                [row] = waited["replicas"]
                rows.append((row, waited["text"], _upstream(sandbox, rid)))
                if row["done"]:
                    break
    # Every wait that returned before the message had run said so (not done, not asleep).
    for row, text, (_, turns, _) in rows[:-1]:
        assert turns == 1, text
        assert row["state"] != "sleeping", text
        assert "Next: Not done yet" in text, text
    row, text, (status, turns, queued) = rows[-1]
    assert (status, turns, queued) == ("active", 2, 0), (
        f"the wait said done ({row['state']}) while the message had not run: {text}"
    )
    assert row["state"] == "idle", text
    assert row["queued"] == 0, text
    assert len(rows) > 1, "the message runs for 3 s: waits of 1 s return before it ran"


@BOTH_WAKE_BEHAVIOURS
async def test_the_next_step_after_a_replica_fell_asleep_reads_its_final_message_without_a_new_turn(
    sandbox: RunningSandbox,
) -> None:
    """The hint leads to the cheap path (wake, wait, report), not to a follow-up that runs a billed turn."""
    async with sandbox_client(sandbox) as api, Client(server(sandbox, api)) as client:
        env = await repo_environment(api)
        started = await _call(
            client, "delegate_task", environment_id=env, task="Quick job [[sleep]]", wait_s=20
        )
        rid = str(started["replicas"][0]["replica_id"])
        with anyio.fail_after(10):
            while _upstream(sandbox, rid)[:2] != ("sleeping", 1):
                await anyio.sleep(0.02)
        waited = await _call(client, "wait_for_replica", replica_id=rid, timeout_s=5)
        report = await _call(client, "get_replica_result", replica_id=rid)
        # The path the texts name, followed as a model would.
        woken = await _call(client, "get_replica", replica_id=rid, wake=True)
        assert woken["status"] == "waking", woken
        await _call(client, "wait_for_replica", replica_id=rid, timeout_s=30)
        final = await _call(client, "get_replica_result", replica_id=rid)
        turns_after = _upstream(sandbox, rid)[1]
    path = "get_replica with wake=true, then wait_for_replica, then get_replica_result"
    delegated = started["text"]
    next_line = delegated.split("Next: ", 1)[1]
    assert path in next_line, delegated
    assert "get_replica_result shows" not in next_line, "the PRs were just shown"
    assert "send_replica_message" not in delegated.split("Next: ")[0], delegated
    assert delegated.count(path) == 1, "said once, in the Next: line"
    assert path in waited["next"], waited["text"]
    assert path in report["text"], report["text"]
    assert "send_replica_message" not in report["text"], report["text"]
    assert turns_after == 1, "waking to read ran no new turn"
    assert final["outcome"] == "completed", final["text"]
    assert final["message"], final["text"]
