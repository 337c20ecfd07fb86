"""`get_replica`, `list_chats` and the replica resource read a chat's history tail only when the chat
changed since the caller last looked."""

from __future__ import annotations

import json
import re
from typing import Any

import anyio
from mcp import Client
from mcp.types import TextResourceContents

from replicas_mcp.sandbox.serve import RunningSandbox
from replicas_mcp.server.state.knowledge import LOOKED_CHATS, LOOKED_REPLICAS, MemoryKnowledge

from ..helpers import repo_environment
from .helpers import mcp_client, requests, tool

HISTORY_ROUTE = "/v1/replica/{id}/history"


def _shown(chats: list[dict[str, Any]]) -> str:
    """The chats as shown, without each fence's random marker."""
    return re.sub(r"untrusted-data-[0-9a-f]+", "fence", repr(chats))


async def test_a_chat_changed_by_someone_else_is_read_again_and_an_unchanged_one_is_not(
    sandbox: RunningSandbox,
) -> None:
    async with mcp_client(sandbox) as (client, api):
        env = await repo_environment(api)
        run = await tool(client, "delegate_task", environment_id=env, task="Fix the login bug", wait_s=20)
        rid = run["replicas"][0]["replica_id"]
        first = await tool(client, "get_replica", replica_id=rid)
        sandbox.faults.stats.reset()
        again = await tool(client, "get_replica", replica_id=rid)
        assert sandbox.faults.stats.count("GET", HISTORY_ROUTE) == 0
        assert _shown(again["chats"]) == _shown(
            first["chats"]
        )  # the remembered look: same question, same last message

        # Someone else (not through this server) writes to the chat: its updated_at moves on.
        chat_id = first["chats"][0]["id"]
        await api.replicas.send_message(rid, "Also add a regression test", chat_id=chat_id)
        with anyio.fail_after(15):
            while (chats := await api.chats.list(rid)) and any(chat.processing for chat in chats):
                await anyio.sleep(0.05)
        sandbox.faults.stats.reset()
        changed = await tool(client, "get_replica", replica_id=rid)
        assert sandbox.faults.stats.count("GET", HISTORY_ROUTE) == 1
        assert _shown(changed["chats"]) != _shown(first["chats"])


async def test_a_question_asked_after_a_look_is_shown(sandbox: RunningSandbox) -> None:
    """A look taken while the chat worked is not reused once the agent asks (the chat changed)."""
    async with mcp_client(sandbox) as (client, api):
        env = await repo_environment(api)
        task = "Add a users endpoint [[slow:20]] [[ask: Which status code for a missing user?]]"
        run = await tool(client, "delegate_task", environment_id=env, task=task, wait_s=0)
        rid = run["replicas"][0]["replica_id"]
        with anyio.fail_after(15):
            while (await tool(client, "get_replica", replica_id=rid))["status"] != "active":
                await anyio.sleep(0.05)
        with anyio.fail_after(15):
            while not any(
                chat.get("needs_input")
                for chat in (await tool(client, "get_replica", replica_id=rid))["chats"]
            ):
                await anyio.sleep(0.05)
        # Asking is a state the chat stays in: the look that found it is reused, with its question.
        sandbox.faults.stats.reset()
        shown = await tool(client, "get_replica", replica_id=rid)
        assert sandbox.faults.stats.count("GET", HISTORY_ROUTE) == 0
        assert "Which status code" in shown["chats"][0]["needs_input"]


async def test_looks_are_bounded_and_go_with_their_replica() -> None:
    store = MemoryKnowledge()
    look = {"updated_at": "2026-12-01T00:00:00.000Z", "processing": False, "last_from": "agent"}
    await store.remember_chat_looks("me", "r0", {f"c{i}": look for i in range(LOOKED_CHATS + 5)})
    assert len(await store.chat_looks("me", "r0")) == LOOKED_CHATS
    for index in range(1, LOOKED_REPLICAS + 1):
        await store.remember_chat_looks("me", f"r{index}", {"c": look})
    assert await store.chat_looks("me", "r0") == {}  # the least recently written went first
    assert await store.chat_looks("me", "r1") == {"c": look}
    assert await store.chat_looks("other", "r1") == {}  # callers never see each other's
    await store.forget("me", "r1")
    assert await store.chat_looks("me", "r1") == {}


async def _replica_text(client: Client, rid: str) -> str:
    contents = (await client.read_resource(f"replicas://replicas/{rid}")).contents[0]
    assert isinstance(contents, TextResourceContents)
    return contents.text


async def test_list_chats_and_the_replica_resource_reuse_the_looks_of_unchanged_chats(
    sandbox: RunningSandbox,
) -> None:
    """`list_chats` and `replicas://replicas/{id}` show the same looks as `get_replica`, from the same memory:
    once any of them has looked, an unchanged replica costs none of them a history read."""
    async with mcp_client(sandbox, toolsets=("replicas", "chats")) as (client, api):
        env = await repo_environment(api)
        run = await tool(client, "delegate_task", environment_id=env, task="Fix the login bug", wait_s=20)
        rid = run["replicas"][0]["replica_id"]

        sandbox.faults.stats.reset()
        first = await tool(client, "list_chats", replica_id=rid)
        assert sandbox.faults.stats.count("GET", HISTORY_ROUTE) == 1  # first sight: the one chat's tail
        assert first["chats"][0]["last_message"].startswith("agent: ")
        sandbox.faults.stats.reset()
        again = await tool(client, "list_chats", replica_id=rid)
        assert sandbox.faults.stats.count("GET", HISTORY_ROUTE) == 0
        assert requests(sandbox) <= 2  # is it awake (the sweep, unless a stream says so), and its chats
        assert _shown(again["chats"]) == _shown(first["chats"])

        sandbox.faults.stats.reset()
        resource = json.loads(await _replica_text(client, rid))
        assert _shown(resource["chats"]) == _shown(first["chats"])
        assert sandbox.faults.stats.count("GET", HISTORY_ROUTE) == 0  # list_chats's look is reused
        assert [chat["last_message"][:7] for chat in resource["chats"]] == ["agent: "]
        sandbox.faults.stats.reset()
        assert _shown(json.loads(await _replica_text(client, rid))["chats"]) == _shown(resource["chats"])
        assert sandbox.faults.stats.count("GET", HISTORY_ROUTE) == 0
        assert requests(sandbox) == 2  # the fresh list lookup and the details

        # Someone else writes to the chat: both read its tail again and show the new last message.
        chat_id = first["chats"][0]["id"]
        await api.replicas.send_message(rid, "Also add a regression test", chat_id=chat_id)
        with anyio.fail_after(15):
            while (chats := await api.chats.list(rid)) and any(chat.processing for chat in chats):
                await anyio.sleep(0.05)
        sandbox.faults.stats.reset()
        changed = json.loads(await _replica_text(client, rid))
        assert sandbox.faults.stats.count("GET", HISTORY_ROUTE) == 1
        assert _shown(changed["chats"]) != _shown(resource["chats"])
        sandbox.faults.stats.reset()
        listed = await tool(client, "list_chats", replica_id=rid)
        assert sandbox.faults.stats.count("GET", HISTORY_ROUTE) == 0  # the resource's new look
        assert _shown(listed["chats"]) != _shown(first["chats"])


async def test_list_chats_shows_a_question_answered_through_this_server_no_more(
    sandbox: RunningSandbox,
) -> None:
    """A remembered look with a question is dropped when this server answers it (the send forgets the
    replica's looks), so a later `list_chats` never shows the answered question."""
    async with mcp_client(sandbox, toolsets=("replicas", "chats")) as (client, api):
        env = await repo_environment(api)
        task = "Add a users endpoint [[ask: Which status code for a missing user?]]"
        run = await tool(client, "delegate_task", environment_id=env, task=task, wait_s=20)
        rid = run["replicas"][0]["replica_id"]
        with anyio.fail_after(15):
            while not (
                asked := [
                    c
                    for c in (await tool(client, "list_chats", replica_id=rid))["chats"]
                    if c.get("needs_input")
                ]
            ):
                await anyio.sleep(0.05)
        assert "Which status code" in asked[0]["needs_input"]
        await tool(client, "send_replica_message", replica_id=rid, message="404", chat_id=asked[0]["id"])
        listed = await tool(client, "list_chats", replica_id=rid)
        assert not any(chat.get("needs_input") for chat in listed["chats"])
