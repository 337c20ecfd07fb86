"""History paged from the end, Canvas items (text, PNG, too large) and hook logs."""

from __future__ import annotations

import base64
import struct
import zlib

import pytest

from replicas_mcp.sandbox.serve import RunningSandbox

from ..helpers import assert_error
from .sandbox_helpers import (
    CANVAS_CONTENT_KEYS,
    CANVAS_ITEM_KEYS,
    HISTORY_EVENT_KEYS,
    HISTORY_KEYS,
    START_HOOK_LOG_KEYS,
    WARM_HOOK_LOG_KEYS,
    assert_shape,
    client,
    create_replica,
    flat_history,
    send,
    wait_idle,
)


async def test_history_pages_from_the_end(sandbox: RunningSandbox) -> None:
    async with client(sandbox) as api:
        replica = await create_replica(api)
        rid = replica["id"]
        await wait_idle(api, rid)
        await send(api, rid, "Second task")
        await wait_idle(api, rid, turns=2)

        raw = (await api.get(f"/v1/replica/{rid}/history", params={"limit": 1000})).json()
        # The contract's nesting: each event's payload is the whole AgentEvent (its own type and payload).
        assert raw["events"][0]["payload"]["type"] == raw["events"][0]["type"] == "claude-user"
        everything = flat_history(raw)
        assert_shape(everything, HISTORY_KEYS)
        total = everything["total"]
        assert total == len(everything["events"])
        assert everything["has_more"] is False
        for event in everything["events"]:
            assert_shape(event, HISTORY_EVENT_KEYS)
        assert everything["events"][0]["type"] == "claude-user"
        assert everything["events"][-1]["type"] == "claude-result"
        assert everything["events"][-1]["payload"]["subtype"] == "success"

        newest = flat_history((await api.get(f"/v1/replica/{rid}/history", params={"limit": 3})).json())
        assert newest["events"] == everything["events"][-3:]
        assert newest["has_more"] is True
        older = flat_history(
            (await api.get(f"/v1/replica/{rid}/history", params={"limit": 3, "offset": 3})).json()
        )
        assert older["events"] == everything["events"][-6:-3]
        oldest = flat_history(
            (await api.get(f"/v1/replica/{rid}/history", params={"limit": 3, "offset": total - 2})).json()
        )
        assert oldest["events"] == everything["events"][:2]
        assert oldest["has_more"] is False
        past_the_start = flat_history(
            (await api.get(f"/v1/replica/{rid}/history", params={"offset": total + 5})).json()
        )
        assert past_the_start["events"] == []
        assert past_the_start["total"] == total

        for params in ({"limit": "0"}, {"offset": "-1"}, {"limit": "many"}):
            assert_error(await api.get(f"/v1/replica/{rid}/history", params=params), 400)
        assert_error(await api.get(f"/v1/replica/{rid}/history", params={"chat_id": "nope"}), 404)


async def test_replies_are_deterministic(sandbox: RunningSandbox) -> None:
    async with client(sandbox) as api:
        one = await create_replica(api, name="one", message="Explain the parser")
        two = await create_replica(api, name="two", message="Explain the parser")
        await wait_idle(api, one["id"])
        await wait_idle(api, two["id"])

        async def reply(rid: str) -> str:
            history = flat_history((await api.get(f"/v1/replica/{rid}/history")).json())
            return str(history["events"][-1]["payload"]["result"])

        assert await reply(one["id"]) == await reply(two["id"])


async def test_canvas_directives_drop_markdown_html_png_and_too_large_items(sandbox: RunningSandbox) -> None:
    async with client(sandbox) as api:
        message = "Show me [[canvas:markdown]] [[canvas:html]] [[canvas:image]] [[canvas:large]]"
        replica = await create_replica(api, message=message)
        rid = replica["id"]
        await wait_idle(api, rid)
        items = (await api.get(f"/v1/replica/{rid}/canvas")).json()["items"]
        for item in items:
            assert_shape(item, CANVAS_ITEM_KEYS)
        by_kind = {item["kind"]: item for item in items}
        assert set(by_kind) == {"markdown", "html", "image", "video"}

        markdown = (await api.get(f"/v1/replica/{rid}/canvas/{by_kind['markdown']['filename']}")).json()
        assert_shape(markdown, CANVAS_CONTENT_KEYS)
        assert markdown["content"].startswith("# Notes")
        assert "base64" not in markdown
        assert markdown["mimeType"].startswith("text/markdown")

        html = (await api.get(f"/v1/replica/{rid}/canvas/{by_kind['html']['filename']}")).json()
        assert html["content"].startswith("<!doctype html>")

        image = (await api.get(f"/v1/replica/{rid}/canvas/{by_kind['image']['filename']}")).json()
        png = base64.b64decode(image["base64"])
        assert image["mimeType"] == "image/png"
        assert len(png) == image["sizeBytes"]
        assert "content" not in image
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        width, height = struct.unpack(">II", png[16:24])
        assert (width, height) == (32, 24)
        idat_length = struct.unpack(">I", png[33:37])[0]
        assert len(zlib.decompress(png[41 : 41 + idat_length])) == height * (1 + width * 3)

        large = (await api.get(f"/v1/replica/{rid}/canvas/{by_kind['video']['filename']}")).json()
        assert large["tooLarge"] is True
        assert large["sizeBytes"] > 5 * 1024 * 1024
        assert "content" not in large
        assert "base64" not in large

        assert_error(await api.get(f"/v1/replica/{rid}/canvas/missing.md"), 404)


async def test_hook_logs_record_boot_hooks_and_a_failing_start_hook(sandbox: RunningSandbox) -> None:
    async with client(sandbox) as api:
        healthy = await create_replica(api, name="healthy")
        failing = await create_replica(api, name="failing", message="Start [[fail-start-hook]]")
        await wait_idle(api, healthy["id"])
        await wait_idle(api, failing["id"])

        logs = (await api.get(f"/v1/replica/{healthy['id']}/hooks")).json()
        assert set(logs) == {"warm_hooks", "start_hooks"}
        for entry in logs["warm_hooks"]["logs"]:
            assert_shape(entry, WARM_HOOK_LOG_KEYS)
        for entry in logs["start_hooks"]["logs"]:
            assert_shape(entry, START_HOOK_LOG_KEYS)
        assert all(entry["exitCode"] == 0 for entry in logs["start_hooks"]["logs"])

        failed = (await api.get(f"/v1/replica/{failing['id']}/hooks")).json()["start_hooks"]["logs"]
        environment_hook = next(entry for entry in failed if entry["hookType"] == "environment")
        assert environment_hook["exitCode"] == 1
        assert "failed on purpose" in environment_hook["output"]
        assert environment_hook["hookName"] == environment_hook["repoName"] == "environment"


@pytest.mark.sandbox_mode(strict=False)  # the lenient sandbox's extensions (docs/sandbox.md)
async def test_a_question_directive_ends_the_turn_awaiting_input(sandbox: RunningSandbox) -> None:
    async with client(sandbox) as api:
        replica = await create_replica(api, message="Migrate the DB [[ask: Postgres or MySQL?]]")
        await wait_idle(api, replica["id"])
        chat = (await api.get(f"/v1/replica/{replica['id']}/chats")).json()["chats"][0]
        assert chat["awaitingInput"] is True
        history = (await api.get(f"/v1/replica/{replica['id']}/history")).json()
        assert "Postgres or MySQL?" in history["events"][-1]["payload"]["result"]
        tools = [
            block["name"]
            for event in history["events"]
            if event["type"] == "claude-assistant"
            for block in event["payload"]["message"]["content"]
            if block["type"] == "tool_use"
        ]
        assert tools == ["AskUserQuestion"]


async def test_a_failed_turn_keeps_the_workspace_active(sandbox: RunningSandbox) -> None:
    async with client(sandbox) as api:
        replica = await create_replica(api, message="Run the suite [[turn-error]]")
        await wait_idle(api, replica["id"])
        history = flat_history((await api.get(f"/v1/replica/{replica['id']}/history")).json())
        result = history["events"][-1]["payload"]
        assert result["is_error"] is True
        assert result["subtype"] == "error"
        assert result["errors"]
