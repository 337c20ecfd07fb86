"""A fresh conversation finds the replica that asks, answers it, and waits until the answer was worked
through: one call to find it, one to answer, waits that are never "done" early. Through an MCP `Client`
against the server and the strict (contract-only) sandbox, under both wake behaviours."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.types import TextResourceContents

from replicas_mcp.client import ReplicasClient
from replicas_mcp.delegation import TaskSpec, launch
from replicas_mcp.sandbox.serve import RunningSandbox

from ..helpers import force_status, repo_environment
from .helpers import call as _call
from .helpers import sandbox_client, server

pytestmark = [
    pytest.mark.usefixtures("fast_waits"),
    pytest.mark.parametrize("sandbox_wake_reads", ["guide", "contract"]),
]

QUESTION = "Which status code for a missing user?"


async def _start(api: ReplicasClient, task: str) -> str:
    item, created = await launch(api, TaskSpec(await repo_environment(api), task))
    assert created
    return item.id


async def _until(check: Any) -> None:
    with anyio.fail_after(15):
        while not await check():
            await anyio.sleep(0.05)


async def _turns(sandbox: RunningSandbox, replica_id: str) -> int:
    found = sandbox.world.find_replica(replica_id)
    assert found is not None
    return found[1].turns_completed


async def test_a_fresh_conversation_finds_answers_and_waits_for_the_asking_replica(
    sandbox: RunningSandbox,
) -> None:
    async with sandbox_client(sandbox) as api:
        # An organization with a finished replica, a sleeping one, a busy one, and one asking a question.
        done = await _start(api, "Fix the typo")
        asleep = await _start(api, "Update the changelog")
        busy = await _start(api, "Port the parser [[slow:600]]")
        asks = await _start(api, f"Add a users endpoint [[ask: {QUESTION}]]")

        async def settled() -> bool:
            for rid in (done, asleep):
                status = await api.replicas.status(rid)
                if status is None or status.status != "active":
                    return False
                if any(chat.processing for chat in await api.chats.list(rid)) or not await _turns(
                    sandbox, rid
                ):
                    return False
            return True

        async def asking() -> bool:
            status = await api.replicas.status(asks)
            if status is None or status.status != "active":
                return False
            return any(state.awaiting_input for state in await api.chats.states(asks))

        await _until(settled)
        await force_status(sandbox, asleep, "sleeping")
        await _until(asking)
        turns_before = await _turns(sandbox, asks)

        async with Client(server(sandbox, api, "all")) as client:
            # One call finds it (and wakes nothing).
            found = await _call(client, "list_replicas", needs_input=True)
            assert [row["id"] for row in found["replicas"]] == [asks]
            assert found["total"] == 1
            assert QUESTION in found["replicas"][0]["needs_input"]
            assert "untrusted-data" in found["replicas"][0]["needs_input"]
            # The other views show it as well, and who wrote last.
            listed = await _call(client, "list_replicas")
            questions = {row["id"]: row.get("needs_input") for row in listed["replicas"]}
            assert QUESTION in (questions[asks] or "")
            assert [rid for rid, q in questions.items() if q] == [asks]
            view = await _call(client, "get_replica", replica_id=asks)
            [chat] = view["chats"]
            assert QUESTION in chat["needs_input"]
            assert chat["last_message"].startswith("user: ")  # the agent only asked since (then fenced text)
            assert "Add a users endpoint" in chat["last_message"]
            chats = await _call(client, "list_chats", replica_id=asks)
            assert QUESTION in chats["chats"][0]["needs_input"]
            resource = await client.read_resource(f"replicas://replicas/{asks}")
            [content] = resource.contents
            assert isinstance(content, TextResourceContents)
            assert QUESTION in content.text

            # One call answers it.
            sent = await _call(
                client, "send_replica_message", replica_id=asks, message="404, with a JSON body"
            )
            assert sent["status"] in ("sent", "queued")

            # Waits until the answer was worked through, never "done" before.
            cursor = None
            results: list[tuple[dict[str, Any], str, int]] = []
            with anyio.fail_after(30):
                while True:
                    arguments: dict[str, Any] = {"replica_id": asks, "timeout_s": 1}
                    if cursor:
                        arguments["cursor"] = cursor
                    waited = await _call(client, "wait_for_replica", **arguments)
                    [row] = waited["replicas"]
                    results.append((row, waited["text"], await _turns(sandbox, asks)))
                    cursor = row["cursor"]
                    if row["done"]:
                        break
            after = await _call(client, "get_replica", replica_id=asks)
            report = await _call(client, "get_replica_result", replica_id=asks)
        still_asleep = await api.replicas.status(asleep)

    for row, text, _ in results[:-1]:
        assert not row["done"]
        assert "Next: Done" not in text
    final, text, turns = results[-1]
    assert final["state"] == "idle"
    assert turns == turns_before + 1  # the paused turn ran to its end with the answer
    assert "Next: Done" in text
    assert not any(item.startswith("asked: ") for item in final["news"])
    assert after["chats"][0].get("needs_input") is None
    assert after["chats"][0]["last_message"].startswith("agent: ")
    assert report["outcome"] == "completed"
    assert report["questions"] == []
    assert still_asleep is not None
    assert still_asleep.status == "sleeping"
    assert busy  # working all along: never reported as asking
