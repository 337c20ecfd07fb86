"""Messages, chats and queues: sent/queued statuses, ordering, queue edits and their errors."""

from __future__ import annotations

from replicas_mcp.sandbox.serve import RunningSandbox

from ..helpers import assert_error
from .sandbox_helpers import (
    CHAT_KEYS,
    QUEUE_KEYS,
    QUEUE_MUTATION_KEYS,
    QUEUED_MESSAGE_KEYS,
    assert_shape,
    client,
    create_replica,
    flat_history,
    send,
    wait_idle,
)


def user_texts(history: dict[str, object]) -> list[str]:
    texts = []
    for event in flat_history(history)["events"]:
        if event["type"] == "claude-user":
            block = event["payload"]["message"]["content"][0]
            if block["type"] == "text":
                texts.append(block["text"])
    return texts


async def test_messages_sent_during_a_turn_queue_and_run_in_order(sandbox: RunningSandbox) -> None:
    async with client(sandbox) as api:
        replica = await create_replica(api)
        rid = replica["id"]
        await wait_idle(api, rid)

        first = await send(api, rid, "Refactor the module [[slow:20]]")
        assert first["status"] == "sent"
        assert first["position"] == 0
        second = await send(api, rid, "Then add tests")
        third = await send(api, rid, "Then update the docs")
        assert (second["status"], second["position"]) == ("queued", 1)
        assert (third["status"], third["position"]) == ("queued", 2)
        assert first["chat_id"] == second["chat_id"] == third["chat_id"]

        queue = (await api.get(f"/v1/replica/{rid}/chats/{first['chat_id']}/queue")).json()
        assert_shape(queue, QUEUE_KEYS)
        assert queue["processing"] is True
        assert [item["id"] for item in queue["queue"]] == [second["message_id"], third["message_id"]]
        for item in queue["queue"]:
            assert_shape(item, QUEUED_MESSAGE_KEYS)

        await wait_idle(api, rid, turns=4, timeout=10)
        history = (await api.get(f"/v1/replica/{rid}/history", params={"limit": 1000})).json()
        assert user_texts(history)[-3:] == [
            "Refactor the module [[slow:20]]",
            "Then add tests",
            "Then update the docs",
        ]


async def test_the_queue_can_be_reordered_trimmed_and_cleared(sandbox: RunningSandbox) -> None:
    async with client(sandbox) as api:
        replica = await create_replica(api)
        rid = replica["id"]
        await wait_idle(api, rid)
        busy = await send(api, rid, "Long job [[slow:200]]")
        chat = busy["chat_id"]
        queued = [await send(api, rid, f"step {n}") for n in range(3)]
        ids = [item["message_id"] for item in queued]
        base = f"/v1/replica/{rid}/chats/{chat}/queue"

        moved = await api.patch(f"{base}/reorder", json={"messageId": ids[2], "position": 0})
        assert moved.status_code == 200
        assert_shape(moved.json(), QUEUE_MUTATION_KEYS)
        assert [item["id"] for item in moved.json()["queue"]] == [ids[2], ids[0], ids[1]]

        removed = (await api.delete(f"{base}/{ids[0]}")).json()
        assert removed["success"] is True
        assert [item["id"] for item in removed["queue"]] == [ids[2], ids[1]]

        assert_error(await api.delete(f"{base}/{ids[0]}"), 404)
        assert_error(await api.patch(f"{base}/reorder", json={"messageId": ids[1], "position": 5}), 400)
        assert_error(await api.patch(f"{base}/reorder", json={"messageId": "msg_nope", "position": 0}), 404)
        assert_error(await api.patch(f"{base}/reorder", json={"messageId": ids[1]}), 400)
        assert_error(await api.patch(f"{base}/reorder", json={"messageId": ids[1], "position": "0"}), 400)

        cleared = (await api.delete(base)).json()
        assert cleared == {"success": True, "queue": []}
        assert (await api.delete(base)).json() == {"success": False, "queue": []}
        still_busy = (await api.get(base)).json()
        assert still_busy["processing"] is True
        assert still_busy["queue"] == []


async def test_chats_can_be_listed_created_targeted_and_deleted(sandbox: RunningSandbox) -> None:
    async with client(sandbox) as api:
        replica = await create_replica(api)
        rid = replica["id"]
        await wait_idle(api, rid)
        listing = (await api.get(f"/v1/replica/{rid}/chats")).json()
        assert len(listing["chats"]) == 1
        for chat in listing["chats"]:
            assert_shape(chat, CHAT_KEYS)

        created = await api.post(
            f"/v1/replica/{rid}/chats", json={"provider": "codex", "title": "Refactoring"}
        )
        assert created.status_code == 201
        chat = created.json()
        assert_shape(chat, CHAT_KEYS)
        assert (chat["provider"], chat["title"], chat["processing"]) == ("codex", "Refactoring", False)

        result = await send(api, rid, "Continue the refactoring", chat_id=chat["id"])
        assert result["chat_id"] == chat["id"]
        assert result["status"] == "sent"
        await wait_idle(api, rid)
        history = (await api.get(f"/v1/replica/{rid}/history", params={"chat_id": chat["id"]})).json()
        assert history["coding_agent"] == "codex"
        assert {event["type"] for event in history["events"]} <= {"event_msg", "response_item"}

        assert (await api.delete(f"/v1/replica/{rid}/chats/{chat['id']}")).json() == {"success": True}
        assert_error(await api.delete(f"/v1/replica/{rid}/chats/{chat['id']}"), 404)
        assert_error(
            await api.post(f"/v1/replica/{rid}/messages", json={"message": "x", "chat_id": chat["id"]}), 404
        )
        assert_error(await api.post(f"/v1/replica/{rid}/chats", json={"provider": "gpt"}), 400)
        assert_error(await api.post(f"/v1/replica/{rid}/chats", json={}), 400)
        assert_error(await api.get(f"/v1/replica/{rid}/chats/nope/queue"), 404)


async def test_a_message_for_another_agent_opens_a_chat_for_it(sandbox: RunningSandbox) -> None:
    async with client(sandbox) as api:
        replica = await create_replica(api)
        rid = replica["id"]
        await wait_idle(api, rid)
        result = await send(api, rid, "Review this", coding_agent="cursor")
        chats = (await api.get(f"/v1/replica/{rid}/chats")).json()["chats"]
        assert {chat["provider"] for chat in chats} == {"claude", "cursor"}
        assert result["chat_id"] == next(chat["id"] for chat in chats if chat["provider"] == "cursor")


async def test_slash_commands_are_stripped_and_mode_flags_validated(sandbox: RunningSandbox) -> None:
    async with client(sandbox) as api:
        replica = await create_replica(api)
        rid = replica["id"]
        await wait_idle(api, rid)
        await send(api, rid, "/plan /fast Refactor the auth module", thinking_level="max")
        await wait_idle(api, rid, turns=2)
        history = (await api.get(f"/v1/replica/{rid}/history", params={"limit": 1000})).json()
        assert user_texts(history)[-1] == "Refactor the auth module"

        assert_error(
            await api.post(f"/v1/replica/{rid}/messages", json={"message": "x", "goal_mode": True}), 400
        )
        assert_error(await api.post(f"/v1/replica/{rid}/messages", json={"message": "   "}), 400)
        assert_error(await api.post(f"/v1/replica/{rid}/messages", json={}), 400)
        assert_error(
            await api.post(f"/v1/replica/{rid}/messages", json={"message": "x", "thinking_level": "huge"}),
            400,
        )
        image = {
            "type": "image",
            "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
        }
        accepted = await api.post(f"/v1/replica/{rid}/messages", json={"message": "Look", "images": [image]})
        assert accepted.status_code == 200
        assert_error(
            await api.post(
                "/v1/replica/00000000-0000-4000-8000-000000000000/messages", json={"message": "x"}
            ),
            404,
        )


async def test_a_message_while_preparing_waits_for_the_boot(sandbox: RunningSandbox) -> None:
    async with client(sandbox) as api:
        replica = await create_replica(api)
        result = await send(api, replica["id"], "And one more thing")
        assert result["status"] == "queued"
        assert result["position"] == 2
        await wait_idle(api, replica["id"], turns=2)
