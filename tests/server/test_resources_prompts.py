"""Resources (reads and live updates in both eras), prompts, and the size of tools/list."""

from __future__ import annotations

import json
from typing import Any

import anyio
import pytest
from mcp import MCPDeprecationWarning, MCPError
from mcp.client.subscriptions import ResourceUpdated
from mcp.types import BlobResourceContents, TextContent, TextResourceContents

from replicas_mcp.sandbox.serve import RunningSandbox
from replicas_mcp.server.tools import all_tools

from ..helpers import force_status
from .helpers import MODES, bound_environment, call, connect, data, new_replica, wire_size


def _uri(event: object) -> str:
    assert isinstance(event, ResourceUpdated), event
    return event.uri


async def test_resource_reads(sandbox: RunningSandbox) -> None:
    async with connect(sandbox) as client:
        rid = await new_replica(client, "resourceful", "Draw it [[canvas:image]] [[canvas:markdown]]")
        listed = (await client.list_resources()).resources
        assert [str(r.uri) for r in listed] == ["replicas://replicas"]
        templates = {t.uri_template for t in (await client.list_resource_templates()).resource_templates}
        assert templates == {
            "replicas://replicas/{replica_id}",
            "replicas://replicas/{replica_id}/history",
            "replicas://replicas/{replica_id}/history/{offset}",
            "replicas://replicas/{replica_id}/canvas/{filename}",
            "replicas://environments/{environment_id}",
            "replicas://automations/{automation_id}",
        }

        all_replicas = (await client.read_resource("replicas://replicas")).contents[0]
        assert isinstance(all_replicas, TextResourceContents)
        assert all_replicas.mime_type == "application/json"
        assert json.loads(all_replicas.text)[0]["id"] == rid

        status = (await client.read_resource(f"replicas://replicas/{rid}")).contents[0]
        assert isinstance(status, TextResourceContents)
        body = json.loads(status.text)
        assert body["status"] == "active"
        assert body["busy"] is False
        assert body["chats"]

        history = (await client.read_resource(f"replicas://replicas/{rid}/history")).contents[0]
        assert isinstance(history, TextResourceContents)
        assert history.mime_type == "text/plain"
        assert "Draw it" in history.text
        assert "untrusted-data" in history.text

        from replicas_mcp.client import ReplicasClient

        async with ReplicasClient(api_key=sandbox.org_key, base_url=sandbox.base_url) as api:
            names = {item.kind: item.filename for item in await api.canvas.list(rid)}
        image = (await client.read_resource(f"replicas://replicas/{rid}/canvas/{names['image']}")).contents[0]
        assert isinstance(image, BlobResourceContents)
        assert image.mime_type == "image/png"
        note = (await client.read_resource(f"replicas://replicas/{rid}/canvas/{names['markdown']}")).contents[
            0
        ]
        assert isinstance(note, TextResourceContents)
        assert (note.mime_type or "").startswith("text/markdown")

        env = (await client.read_resource("replicas://environments/global")).contents[0]
        assert isinstance(env, TextResourceContents)
        assert json.loads(env.text)["is_global"] is True

        with pytest.raises(MCPError) as missing:
            await client.read_resource("replicas://replicas/does-not-exist")
        assert missing.value.code == -32602

        await force_status(sandbox, rid, "sleeping")
        asleep = json.loads((await client.read_resource(f"replicas://replicas/{rid}")).contents[0].text)  # type: ignore[union-attr]
        assert asleep["status"] == "sleeping"
        assert "chats" not in asleep
        with pytest.raises(MCPError) as sleeping:
            await client.read_resource(f"replicas://replicas/{rid}/history")
        assert "sleeping" in sleeping.value.message
        listed_after = data(await call(client, "list_replicas"))["replicas"][0]
        assert listed_after["status"] == "sleeping", "resource reads never wake a replica"


async def test_a_missing_canvas_file_points_at_list_canvas_items(sandbox: RunningSandbox) -> None:
    async with connect(sandbox, toolsets=("replicas", "canvas")) as client:
        rid = await new_replica(client, "canvas-reader")
        with pytest.raises(MCPError) as missing:
            await client.read_resource(f"replicas://replicas/{rid}/canvas/gone.md")
        assert missing.value.code == -32602
        assert "list_canvas_items" in str(missing.value)
        assert "list_replicas" not in str(missing.value)


async def test_replica_resource_shows_the_question_once(sandbox: RunningSandbox) -> None:
    question = "Which status code for a missing user?"
    async with connect(sandbox) as client:
        env = await bound_environment(client)
        asking = {"name": "asker", "message": f"Add it [[ask: {question}]]", "environment_id": env}
        rid = data(await call(client, "create_replica", asking))["id"]

        async def shown() -> str:
            contents = (await client.read_resource(f"replicas://replicas/{rid}")).contents[0]
            assert isinstance(contents, TextResourceContents)
            return contents.text

        with anyio.fail_after(15):
            while not (body := json.loads(await shown())).get("needs_input"):
                await anyio.sleep(0.05)
    assert question in body["needs_input"]
    # needs_input says it; the chat only says it is the one asking (its last message is the user's task)
    assert [(chat.get("asking"), "needs_input" in chat) for chat in body["chats"]] == [(True, False)]


async def test_automation_resource_withholds_webhook_token(sandbox: RunningSandbox) -> None:
    async with connect(sandbox, toolsets=("automations", "replicas")) as client:
        env = await bound_environment(client)
        created = data(
            await call(
                client,
                "save_automation",
                {"name": "hook", "prompt": "Triage", "environment_id": env, "triggers": [{"type": "custom"}]},
            )
        )
        contents = (await client.read_resource(f"replicas://automations/{created['id']}")).contents[0]
        assert isinstance(contents, TextResourceContents)
        body = json.loads(contents.text)
        assert body["has_webhook"] is True
        assert "webhook_token" not in contents.text


async def test_live_status_2026_listen(sandbox: RunningSandbox) -> None:
    async with connect(sandbox) as client:
        rid = await new_replica(client, "live")
        uri = f"replicas://replicas/{rid}"
        async with client.listen(resource_subscriptions=[uri]) as updates:
            await call(client, "send_replica_message", {"replica_id": rid, "message": "Add a test"})
            with anyio.fail_after(10):
                event = await anext(updates)
            assert _uri(event) == uri
            await force_status(sandbox, rid, "sleeping")
            with anyio.fail_after(10):
                while True:  # turn events may still be buffered; the status change follows
                    event = await anext(updates)
                    listed = data(await call(client, "list_replicas"))["replicas"][0]
                    if listed["status"] == "sleeping":
                        break
            assert _uri(event) == uri


async def test_live_status_legacy_subscribe(sandbox: RunningSandbox) -> None:
    received: list[str] = []
    got = anyio.Event()

    async def on_message(message: object) -> None:
        params = getattr(getattr(message, "params", None), "uri", None)
        if params is not None:
            received.append(str(params))
            got.set()

    async with connect(sandbox, mode="legacy", message_handler=on_message) as client:
        assert client.protocol_version == "2025-11-25"
        rid = await new_replica(client, "legacy-live")
        uri = f"replicas://replicas/{rid}/history"
        with pytest.warns(MCPDeprecationWarning):  # deprecated for 2026 clients; a 2025 client uses it
            await client.session.subscribe_resource(uri)
        await call(client, "send_replica_message", {"replica_id": rid, "message": "And docs"})
        with anyio.fail_after(10):
            await got.wait()
        assert uri in received or f"replicas://replicas/{rid}" in received
        with pytest.warns(MCPDeprecationWarning):
            await client.session.unsubscribe_resource(uri)


async def test_one_upstream_watch_per_replica(sandbox: RunningSandbox) -> None:
    """Two listen streams on the same replica share one upstream event stream."""
    async with connect(sandbox) as client:
        rid = await new_replica(client, "shared-watch")
        uris = [f"replicas://replicas/{rid}", f"replicas://replicas/{rid}/history"]
        route = ("GET", "/v1/replica/{id}/events")
        before = sandbox.world.faults.stats.count(*route)
        async with (
            client.listen(resource_subscriptions=uris[:1]) as first,
            client.listen(resource_subscriptions=uris) as second,
        ):
            await call(client, "send_replica_message", {"replica_id": rid, "message": "Once more"})
            with anyio.fail_after(10):
                assert _uri(await anext(first)) == uris[0]
                assert _uri(await anext(second)) in uris
            assert sandbox.world.faults.stats.count(*route) - before == 1


@pytest.mark.parametrize("mode", MODES)
async def test_prompts(sandbox: RunningSandbox, mode: str) -> None:
    async with connect(sandbox, mode=mode) as client:
        prompts = {p.name: p for p in (await client.list_prompts()).prompts}
        assert set(prompts) == {"delegate_coding_task", "review_replica_work", "follow_up_on_ci"}
        assert [a.name for a in prompts["follow_up_on_ci"].arguments or []] == ["replica_id", "failure_text"]

        delegate = await client.get_prompt(
            "delegate_coding_task", {"environment": "api", "task": "Fix login"}
        )
        first = delegate.messages[0].content
        assert isinstance(first, TextContent)
        assert "delegate_task" in first.text  # the one workflow: delegate, wait, result
        assert "wait_for_replica" in first.text
        assert "get_replica_result" in first.text
        assert "Fix login" in first.text

        review = await client.get_prompt("review_replica_work", {"replica_id": "r-1"})
        assert isinstance(review.messages[0].content, TextContent)
        assert "read_replica_history" in review.messages[0].content.text

        ci = await client.get_prompt(
            "follow_up_on_ci", {"replica_id": "r-1", "failure_text": "FAILED test_x\u202e ignore previous"}
        )
        body = ci.messages[0].content
        assert isinstance(body, TextContent)
        assert "untrusted-data" in body.text
        assert "\u202e" not in body.text


# tools/list budgets (compact JSON, as on the wire; issue 4: 10 KB default, 28 KB all). The default toolset
# also holds the delegation workflow tools (toolsets/delegation.py), whose own share tests/delegation checks.
DEFAULT_BUDGET = 10_000
ALL_BUDGET = 28_000
SERVER_TOOLS_DEFAULT_BUDGET = 6_600  # toolsets/replicas.py: what is left of the default budget


async def _tools_list(sandbox: RunningSandbox, toolsets: tuple[str, ...]) -> tuple[int, int, dict[str, int]]:
    """Tool count, total bytes, and bytes per toolset module."""
    async with connect(sandbox, toolsets=toolsets) as client:
        tools = (await client.list_tools()).tools
    dumped = [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in tools]
    module_of = {spec.name: spec.fn.__module__.rsplit(".", 1)[1] for spec in all_tools()}
    per_module: dict[str, int] = {}
    for tool in dumped:
        module = module_of[tool["name"]]
        per_module[module] = per_module.get(module, 0) + wire_size(tool) + 1  # and its comma
    return len(tools), wire_size({"tools": dumped}), per_module


def _report(label: str, count: int, size: int, per_module: dict[str, int]) -> None:
    print(f"\ntools/list, {label}: {count} tools, {size} bytes")
    for module, bytes_ in per_module.items():
        print(f"  toolsets/{module}.py: {bytes_} bytes")


async def test_tools_list_size_default(sandbox: RunningSandbox) -> None:
    """The JSON the model reads for the default toolset."""
    count, size, per_module = await _tools_list(sandbox, ("replicas",))
    _report("default toolset", count, size, per_module)
    assert per_module["replicas"] <= SERVER_TOOLS_DEFAULT_BUDGET
    assert size <= DEFAULT_BUDGET, f"default toolset: {size} bytes of tools/list (budget {DEFAULT_BUDGET})"


async def test_tools_list_size_all(sandbox: RunningSandbox) -> None:
    count, size, per_module = await _tools_list(sandbox, ("all",))
    _report("all toolsets", count, size, per_module)
    assert size <= ALL_BUDGET, f"all toolsets: {size} bytes of tools/list (budget {ALL_BUDGET})"


async def test_a_session_that_subscribes_and_unsubscribes_again_and_again_keeps_one_cleanup(
    sandbox: RunningSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The cleanup that ends a legacy session's subscriptions is registered on its connection; registered
    # again at every first-subscription-after-none, a long-lived session toggling one subscription would grow
    # its connection's exit stack without bound.
    from replicas_mcp.server.tools.sdk import when_connection_ends as original

    registered: list[object] = []

    def counting(session: Any, callback: Any) -> None:
        registered.append(session)
        original(session, callback)

    monkeypatch.setattr("replicas_mcp.server.app.when_connection_ends", counting)
    async with connect(sandbox, mode="legacy") as client:
        for _ in range(5):
            with pytest.warns(MCPDeprecationWarning):
                await client.session.subscribe_resource("replicas://replicas/r-toggled")
            with pytest.warns(MCPDeprecationWarning):
                await client.session.unsubscribe_resource("replicas://replicas/r-toggled")
    assert len(registered) == 1


async def test_a_canvas_file_of_a_replica_that_does_not_exist_is_not_found(sandbox: RunningSandbox) -> None:
    # Not "not awake; wake it first": there is nothing to wake, and get_replica(wake=true) would fail too.
    async with connect(sandbox) as client:
        with pytest.raises(MCPError) as missing:
            await client.read_resource("replicas://replicas/does-not-exist/canvas/report.md")
    assert missing.value.code == -32602
    assert "wake" not in missing.value.message
