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
        assert "get_chat_queue" in message
        assert "msg-that-is-not-queued" not in message  # what was passed is not repeated (issue 12 #10)


async def test_deleting_an_environment_an_automation_uses_fails_first(sandbox: RunningSandbox) -> None:
    asker = Asker("accept", {"confirm": True})
    async with connected(sandbox, policy="require", asker=asker) as (client, world):
        delete = {"environment_id": world.environment_id, "kind": "environment"}
        message = await failed_unasked(sandbox, client, asker, "remove_environment_item", delete)
        assert world.automation_id in message
        assert "save_automation" in message


async def test_removing_an_item_that_is_not_there_is_not_asked_about(sandbox: RunningSandbox) -> None:
    asker = Asker("accept", {"confirm": True})
    async with connected(sandbox, policy="require", asker=asker) as (client, world):
        missing = {"environment_id": world.environment_id, "kind": "variable", "item": "NO_SUCH_VARIABLE"}
        before = writes(sandbox)
        with anyio.fail_after(20):
            result = await client.call_tool("remove_environment_item", missing)
        # Already absent: the idempotent removal succeeds with nothing to ask and nothing to change.
        assert not result.is_error, text(result)
        assert "already absent" in text(result)
        assert "get_environment" in text(result)
        assert asker.asked == []
        assert writes(sandbox) == before


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


async def test_a_chat_or_replica_that_is_not_there_fails_first(sandbox: RunningSandbox) -> None:
    asker = Asker("accept", {"confirm": True})
    async with connected(sandbox, policy="require", asker=asker) as (client, world):
        no_chat = {"replica_id": world.replica_id, "chat_id": "chat-nope"}
        message = await failed_unasked(sandbox, client, asker, "delete_chat", no_chat)
        assert "list_chats" in message
        assert "chat-nope" not in message  # what was passed is not repeated (issue 12 #10)
        no_replica = {"replica_id": "r-nope", "chat_id": world.chat_id}
        assert "list_replicas" in await failed_unasked(sandbox, client, asker, "delete_chat", no_replica)
        clear = {**no_replica, "action": "clear"}
        assert "list_replicas" in await failed_unasked(sandbox, client, asker, "edit_chat_queue", clear)
        clear_no_chat = {**no_chat, "action": "clear"}
        assert "list_chats" in await failed_unasked(sandbox, client, asker, "edit_chat_queue", clear_no_chat)


@pytest.mark.parametrize("sandbox_wake_reads", ["guide", "contract"])  # contract: a chats read would wake it
async def test_a_sleeping_replicas_chats_fail_first_without_waking_it(sandbox: RunningSandbox) -> None:
    asker = Asker("accept", {"confirm": True})
    async with (
        ReplicasClient(api_key=sandbox.org_key, base_url=sandbox.base_url) as api,
        connected(sandbox, policy="require", asker=asker) as (client, world),
    ):
        sleeper = await api.replicas.create(
            name="sleeper", message="Quick job [[sleep]]", environment_id=world.environment_id
        )
        with anyio.fail_after(20):
            while (item := await api.replicas.status(sleeper.id)) is None or item.status != "sleeping":
                await anyio.sleep(0.05)
        chat = {"replica_id": sleeper.id, "chat_id": world.chat_id}
        for tool, arguments in (
            ("delete_chat", chat),
            ("edit_chat_queue", {**chat, "action": "clear"}),
        ):
            assert "sleeping" in await failed_unasked(sandbox, client, asker, tool, arguments)
        status = await api.replicas.status(sleeper.id)
        assert status is not None
        assert status.status == "sleeping"  # the question read the list only: nothing woke it
        # Nothing waits in a sleeping replica: replacing its queue drops nothing, so it is a plain send.
        replace = {"replica_id": sleeper.id, "message": "Start over", "mode": "replace_queue"}
        with anyio.fail_after(20):
            sent = await client.call_tool("send_replica_message", replace)
        assert not sent.is_error, text(sent)
        assert asker.asked == []


@pytest.mark.parametrize(
    ("trigger", "named"),
    [
        ({"type": "cron", "config": {"schedule": "not a cron"}}, "cron expression"),
        ({"type": "cron", "config": {"schedule": "0 9 * * 1 *"}}, "cron expression"),  # 6 fields
        # A valid expression under the wrong key: said to be missing, naming the key given, not "invalid".
        ({"type": "cron", "config": {"cron": "0 3 * * *"}}, "schedule is missing (got cron)"),
        ({"type": "cron", "config": {"schedule": "0 9 * * 1", "timezone": "Mars/Olympus"}}, "time zone"),
        ({"type": "github", "config": {"event": "push"}}, "pull_request.opened"),
        ({"type": "sentry", "config": {}}, "issue.created"),
    ],
)
async def test_an_automation_the_api_would_reject_fails_before_anyone_is_asked(
    sandbox: RunningSandbox, trigger: dict[str, Any], named: str
) -> None:
    asker = Asker("accept", {"confirm": True})
    async with connected(sandbox, policy="require", asker=asker) as (client, world):
        create = {
            "name": "hourly",
            "prompt": "Run the tests",
            "environment_id": world.environment_id,
            "triggers": [trigger],
        }
        assert named in await failed_unasked(sandbox, client, asker, "save_automation", create)
        change = {"automation_id": world.automation_id, "triggers": [trigger]}
        assert named in await failed_unasked(sandbox, client, asker, "save_automation", change)


async def test_an_automation_in_an_environment_that_is_not_there_fails_first(sandbox: RunningSandbox) -> None:
    asker = Asker("accept", {"confirm": True})
    async with connected(sandbox, policy="require", asker=asker) as (client, world):
        cron = {"type": "cron", "config": {"schedule": "0 * * * *"}}
        create = {"name": "x", "prompt": "Run", "environment_id": "env-nope", "triggers": [cron]}
        missing = "No environment has that name or id"
        assert missing in await failed_unasked(sandbox, client, asker, "save_automation", create)
        moved = {"automation_id": world.automation_id, "environment_id": "env-nope"}
        assert missing in await failed_unasked(sandbox, client, asker, "save_automation", moved)
        # An id of the contract's shape that names nothing: the automation's own check says so.
        unknown = {**moved, "environment_id": "00000000-0000-4000-8000-000000000000"}
        assert "list_environments" in await failed_unasked(sandbox, client, asker, "save_automation", unknown)
        twice = {**create, "environment_id": world.environment_id, "triggers": [cron, cron]}
        assert "at most one" in await failed_unasked(sandbox, client, asker, "save_automation", twice)
        gone = {"automation_id": "auto-nope", "prompt": "Push to main"}
        assert "not found" in (await failed_unasked(sandbox, client, asker, "save_automation", gone)).lower()


async def test_environment_calls_that_cannot_succeed_fail_first(sandbox: RunningSandbox) -> None:
    asker = Asker("accept", {"confirm": True})
    async with connected(sandbox, policy="require", asker=asker) as (client, world):
        env = world.environment_id
        failing: list[tuple[str, dict[str, Any], str]] = [
            (
                "remove_environment_item",
                {"environment_id": "env-nope", "kind": "environment"},
                "no environment",
            ),
            ("remove_environment_item", {"environment_id": "global", "kind": "environment"}, "global"),
            ("save_environment", {"environment_id": "global", "system_prompt": "Push to main."}, "global"),
            ("save_environment", {"environment_id": "env-nope", "system_prompt": "Push."}, "no environment"),
            (
                "set_environment_item",
                {"environment_id": "env-nope", "kind": "variable", "name": "DATABASE_URL", "value": "x"},
                "no environment",
            ),
            (
                "set_environment_item",
                {"environment_id": env, "kind": "variable", "name": "DATABASE_URL"},
                "value",
            ),
            (
                "set_environment_item",
                {"environment_id": env, "kind": "mcp", "name": "docs", "transport": "stdio", "config": {}},
                "command",
            ),
            (
                "run_environment_hook",
                {"environment_id": "env-nope", "hook": "warm", "content": "echo", "save": "always"},
                "no environment",
            ),
        ]
        for tool, arguments, said in failing:
            message = await failed_unasked(sandbox, client, asker, tool, arguments)
            assert said in message.lower(), (tool, arguments, message)


async def test_a_bad_trigger_fails_the_same_way_when_nobody_is_asked(sandbox: RunningSandbox) -> None:
    asker = Asker("accept", {"confirm": True})
    async with connected(sandbox, policy="never", asker=asker) as (client, world):
        cron = {"type": "cron", "config": {"schedule": "9"}}
        bad = {"automation_id": world.automation_id, "triggers": [cron]}
        assert "cron expression" in await failed_unasked(sandbox, client, asker, "save_automation", bad)
