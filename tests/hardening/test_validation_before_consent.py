"""Validation before consent (issue 10 #6): nobody is asked to approve a call that is going to fail on its
arguments or its preconditions. The call fails with an error that says what to do, the user is never asked,
and nothing changes upstream."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from mcp import Client

from replicas_mcp.client import ReplicasClient
from replicas_mcp.sandbox.serve import RunningSandbox

from ..helpers import text
from .confirm_helpers import Asker, connected, writes


async def failed_unasked(
    sandbox: RunningSandbox, client: Client, asker: Asker, tool: str, arguments: dict[str, Any]
) -> str:
    before, asked = writes(sandbox), len(asker.asked)
    with anyio.fail_after(20):
        result = await client.call_tool(tool, arguments)
    assert result.is_error, f"{tool} unexpectedly succeeded: {text(result)}"
    assert len(asker.asked) == asked, f"{tool} asked the user about a call that fails: {asker.asked[-1]}"
    assert writes(sandbox) == before
    return text(result)


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_removing_a_queued_message_that_does_not_exist_fails_first(
    sandbox: RunningSandbox, mode: str
) -> None:
    asker = Asker("accept", {"confirm": True})
    async with connected(sandbox, policy="require", mode=mode, asker=asker) as (client, world):
        remove = {
            "replica_id": world.replica_id,
            "chat_id": world.chat_id,
            "action": "remove",
            "message_id": "msg-that-is-not-queued",
        }
        message = await failed_unasked(sandbox, client, asker, "edit_chat_queue", remove)
        assert "get_chat_queue" in message
        # Moving one that is not there fails the same way (a move asks nothing, but it must not pretend).
        message = await failed_unasked(
            sandbox, client, asker, "edit_chat_queue", {**remove, "action": "move"}
        )
        assert "msg-that-is-not-queued" in message


async def test_deleting_an_environment_an_automation_uses_fails_first(sandbox: RunningSandbox) -> None:
    asker = Asker("accept", {"confirm": True})
    async with connected(sandbox, policy="require", asker=asker) as (client, world):
        delete = {"environment_id": world.environment_id, "kind": "environment"}
        message = await failed_unasked(sandbox, client, asker, "remove_environment_item", delete)
        assert world.automation_id in message
        assert "save_automation" in message


async def test_removing_an_item_that_is_not_there_fails_first(sandbox: RunningSandbox) -> None:
    asker = Asker("accept", {"confirm": True})
    async with connected(sandbox, policy="require", asker=asker) as (client, world):
        missing = {"environment_id": world.environment_id, "kind": "variable", "item": "NO_SUCH_VARIABLE"}
        message = await failed_unasked(sandbox, client, asker, "remove_environment_item", missing)
        assert "get_environment" in message


async def test_what_does_not_exist_is_never_asked_about(sandbox: RunningSandbox) -> None:
    asker = Asker("accept", {"confirm": True})
    async with connected(sandbox, policy="require", asker=asker) as (client, _):
        replace = {"replica_id": "r-gone", "message": "Stop", "mode": "replace_queue"}
        message = await failed_unasked(sandbox, client, asker, "send_replica_message", replace)
        assert "list_replicas" in message
        # A delete of what is not there has nothing to lose: it is not asked about (the API answers it).
        for tool, arguments in (
            ("delete_replica", {"replica_id": "r-gone"}),
            ("delete_automation", {"automation_id": "auto-gone"}),
        ):
            with anyio.fail_after(20):
                result = await client.call_tool(tool, arguments)
            assert result.is_error, text(result)
            assert "not found" in text(result).lower()
        assert asker.asked == []


async def test_an_incomplete_automation_fails_before_anyone_is_asked(sandbox: RunningSandbox) -> None:
    asker = Asker("accept", {"confirm": True})
    async with connected(sandbox, policy="require", asker=asker) as (client, _):
        incomplete = {"name": "hourly", "prompt": "Push to main"}
        message = await failed_unasked(sandbox, client, asker, "save_automation", incomplete)
        assert "environment_id" in message
        assert "triggers" in message


async def test_a_valid_call_is_still_asked(sandbox: RunningSandbox) -> None:
    asker = Asker("decline")
    async with (
        ReplicasClient(api_key=sandbox.org_key, base_url=sandbox.base_url) as api,
        connected(sandbox, policy="require", asker=asker) as (client, world),
    ):
        spare = await api.environments.create(name="spare-env")
        with anyio.fail_after(20):
            delete = {"environment_id": spare.id, "kind": "environment"}
            result = await client.call_tool("remove_environment_item", delete)
        assert result.is_error
        assert "nothing was changed" in text(result)
        assert len(asker.asked) == 1
        assert spare.id in asker.asked[0]
        assert world.environment_id not in asker.asked[0]
