"""Strict mode: exactly the contract's fields and rules, and reads of a sleeping workspace either way."""

from __future__ import annotations

from typing import Any

import pytest

from replicas_mcp.sandbox.serve import RunningSandbox, running_sandbox
from replicas_mcp.sandbox.world import ApiKey

from ..helpers import assert_error, eventually
from .sandbox_helpers import (
    DETAILS_KEYS,
    LIST_ITEM_KEYS,
    client,
    create_replica,
    details,
    environment_id,
    flat_history,
    list_item,
    read_events,
    send,
    types,
    wait_idle,
    wait_status,
)

CHAT_KEYS = {"id", "provider", "title", "created_at", "updated_at", "processing"}


def tool_blocks(history: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [
        block
        for event in flat_history(history)["events"]
        for block in event["payload"].get("message", {}).get("content", [])
        if block["type"] == kind
    ]


async def test_replicas_and_chats_carry_exactly_the_contracts_fields(sandbox: RunningSandbox) -> None:
    async with client(sandbox) as api:
        replica = await create_replica(api, model="sonnet", lifecycle_policy="default")
        assert set(replica) == LIST_ITEM_KEYS
        await wait_idle(api, replica["id"])
        shown = await details(api, replica["id"])
        assert set(shown) == DETAILS_KEYS
        assert {key for chat in shown["chats"] for key in chat} == CHAT_KEYS
        chats = (await api.get(f"/v1/replica/{replica['id']}/chats")).json()
        assert set(chats) == {"chats", "waking"}
        assert {key for chat in chats["chats"] for key in chat} == CHAT_KEYS


async def test_a_question_pauses_the_turn_until_the_next_message_answers_it(sandbox: RunningSandbox) -> None:
    async with client(sandbox) as api:
        replica = await create_replica(api, message="Migrate the DB [[ask: Postgres or MySQL?]]")
        rid = replica["id"]

        def asking(events: list[dict[str, Any]]) -> bool:
            return any(
                event["type"] == "chat.updated" and event["payload"]["chat"].get("awaitingInput")
                for event in events
            )

        events = await read_events(api, rid, until=asking, last_event_id="0")
        summary = next(e["payload"]["chat"] for e in events if e["type"] == "chat.updated" and asking([e]))
        assert summary["processing"] is True  # the contract: processing stays true while awaiting input
        assert "chat.turn.completed" not in types(events)
        chat = (await details(api, rid))["chats"][0]
        assert chat["processing"] is True
        history = (await api.get(f"/v1/replica/{rid}/history")).json()
        [question] = tool_blocks(history, "tool_use")
        assert question["name"] == "AskUserQuestion"
        assert question["input"] == {"question": "Postgres or MySQL?"}
        assert tool_blocks(history, "tool_result") == []  # the tool call is pending

        answer = await send(api, rid, "Postgres, please")
        assert answer["status"] == "sent"
        assert answer["position"] == 0
        await wait_idle(api, rid)
        history = (await api.get(f"/v1/replica/{rid}/history")).json()
        [result] = [
            block for block in tool_blocks(history, "tool_result") if block["tool_use_id"] == question["id"]
        ]
        assert result["content"] == "Postgres, please"
        assert history["events"][-1]["type"] == "claude-result"
        assert "Migrate the DB" in flat_history(history)["events"][-1]["payload"]["result"]


async def test_partial_mcp_configs_are_rejected(sandbox: RunningSandbox) -> None:
    async with client(sandbox) as api:
        mcps = "/v1/environments/global/mcps"
        partial = {"name": "local", "transport": "stdio", "config": {"command": "npx"}}
        assert_error(await api.post(mcps, json=partial), 400, "Invalid field 'config'")
        full = {"name": "local", "transport": "stdio", "config": {"command": "npx", "args": [], "env": {}}}
        created = await api.post(mcps, json=full)
        assert created.status_code == 201, created.text
        mcp_id = created.json()["environment_mcp"]["id"]
        body = assert_error(await api.patch(f"{mcps}/{mcp_id}", json={"config": {"command": "uvx"}}), 400)
        assert "args, env" in str(body["details"])
        whole = {"config": {"command": "uvx", "args": ["-y"], "env": {}}}
        assert (await api.patch(f"{mcps}/{mcp_id}", json=whole)).status_code == 200


async def test_nulls_for_fields_the_contract_does_not_make_nullable_are_rejected(
    sandbox: RunningSandbox,
) -> None:
    async with client(sandbox) as api:
        env_id = await environment_id(api)
        created = await api.post(
            "/v1/automations",
            json={
                "name": "nightly",
                "prompt": "Upkeep",
                "environment_id": env_id,
                "triggers": [{"type": "cron", "config": {"schedule": "0 3 * * *"}}],
                "description": "Nightly upkeep",
            },
        )
        assert created.status_code == 201, created.text
        automation = f"/v1/automations/{created.json()['automation']['id']}"
        for field in ("description", "workspace_size", "config"):
            assert_error(await api.patch(automation, json={field: None}), 400, f"Invalid field '{field}'")
        assert (await api.patch(automation, json={"debounce_seconds": None})).status_code == 200  # nullable
        assert (await api.patch(automation, json={"description": ""})).status_code == 200
        assert_error(await api.patch(f"/v1/environments/{env_id}", json={"name": None}), 400)
        replica = await create_replica(api)
        assert_error(
            await api.post(f"/v1/replica/{replica['id']}/messages", json={"message": "hi", "model": None}),
            400,
        )


async def test_a_failure_is_told_by_the_error_event_not_an_extra_field(sandbox: RunningSandbox) -> None:
    async with client(sandbox) as api:
        replica = await create_replica(api, message="Build it [[error: out of memory]]")
        events = await read_events(
            api, replica["id"], until=lambda evs: "error" in types(evs), last_event_id="0"
        )
        error = next(event for event in events if event["type"] == "error")
        assert error["payload"]["message"] == "out of memory"
        await wait_status(api, replica["id"], "error")
        assert "error_message" not in await details(api, replica["id"])


async def test_user_ids_are_uuids() -> None:
    keys = (
        ApiKey("sk_replicas_strict_org", "Acme"),
        ApiKey("sk_replicas_strict_bob", "Acme", "personal", "bob"),
    )
    async with (
        running_sandbox(time_scale=0.05, keys=keys, strict=True) as strict,
        client(strict, "sk_replicas_strict_bob") as bob,
    ):
        env_id = await environment_id(bob)
        created = await bob.post(
            "/v1/automations",
            json={
                "name": "mine",
                "prompt": "Check my branch",
                "environment_id": env_id,
                "scope": "user",
                "triggers": [{"type": "cron", "config": {"schedule": "0 4 * * *"}}],
            },
        )
        assert created.status_code == 201, created.text
        automation = created.json()["automation"]
        assert automation["user_id"] == automation["created_by"]
        assert len(automation["user_id"]) == 36
        assert automation["user_id"] != "bob"


async def sleeping_replica(api: Any, sandbox: RunningSandbox) -> str:
    replica = await create_replica(api)
    await wait_idle(api, replica["id"])
    workspaces = sandbox.world.org().workspaces
    workspaces.force_status(workspaces.get(replica["id"]), "sleeping")
    return str(replica["id"])


@pytest.mark.sandbox_mode(wake_reads="contract")
async def test_contract_wake_reads_answer_with_waking_and_wake_the_workspace(sandbox: RunningSandbox) -> None:
    async with client(sandbox) as api:
        rid = await sleeping_replica(api, sandbox)
        chats = await api.get(f"/v1/replica/{rid}/chats")
        assert chats.status_code == 200
        assert chats.json()["waking"] is True
        assert len(chats.json()["chats"]) == 1
        assert (await list_item(api, rid) or {})["status"] == "preparing"
        history = await api.get(f"/v1/replica/{rid}/history")
        assert history.status_code == 200
        assert history.json()["waking"] is True
        await wait_status(api, rid, "active")
        assert (await api.get(f"/v1/replica/{rid}/chats")).json()["waking"] is False


@pytest.mark.parametrize("sandbox_wake_reads", ["guide"])
async def test_guide_wake_reads_answer_409_and_leave_the_workspace_asleep(sandbox: RunningSandbox) -> None:
    async with client(sandbox) as api:
        rid = await sleeping_replica(api, sandbox)
        for path in ("chats", "history"):
            assert_error(await api.get(f"/v1/replica/{rid}/{path}"), 409, "Workspace is sleeping")

        async def still_asleep() -> bool:
            return (await list_item(api, rid) or {}).get("status") == "sleeping"

        await eventually(still_asleep)
