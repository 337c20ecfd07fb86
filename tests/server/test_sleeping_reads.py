"""Reads never wake a sleeping replica unless asked, under both documents' answer to such a read.

The guide answers a read of a sleeping workspace's chats or history with 409; the contract answers 200
with `waking: true` and starts the wake (billed minutes, 10-60 s). A read the product sends by mistake
therefore only fails under the guide, but silently wakes the replica under the contract. So these tests
run under both (tests/server/conftest.py) and judge by what reached the sandbox: no request but the list
may touch a sleeping replica until a caller passes `wake=true`.

Every read-only tool that takes a replica id and every resource template of a replica is called, found
from `tools/list` and `resources/templates/list`, so a read added later is covered without a new test.
"""

from __future__ import annotations

import re
from typing import Any

import anyio
import pytest
from mcp import Client, MCPError

from replicas_mcp.sandbox.serve import RunningSandbox

from ..helpers import force_status, text
from .helpers import bound_environment, call, connect, data, new_replica

# What may reach the sandbox while the replica sleeps: the list, which never wakes anything, and the
# event stream's own reconnect after the upstream ended it (the guide answers 409; no document says that
# opening a stream wakes a workspace, and the replica's status is checked below anyway).
ALLOWED_ROUTES = frozenset({"GET /v1/replica", "GET /v1/replica/{id}/events"})
# The canvas file the replica writes (`[[canvas:markdown]]`), named by the reads that need a file.
CANVAS_FILE = "notes-1.md"
# Arguments that keep a call short: a wait on a sleeping replica returns at once, but bound it anyway.
SHORT: dict[str, dict[str, Any]] = {"wait_for_replica": {"timeout_s": 2}}


def replica_routes(sandbox: RunningSandbox) -> dict[str, int]:
    """Every request about replicas that reached the sandbox's API but the allowed ones, with its count."""
    return {
        route: count
        for route, count in sandbox.faults.stats.requests.items()
        if route.split(" ", 1)[1].startswith("/v1/replica") and route not in ALLOWED_ROUTES
    }


def listed_status(sandbox: RunningSandbox, replica_id: str) -> str:
    """The replica's status as the sandbox holds it (no request, so the count above is not disturbed)."""
    workspace = sandbox.world.org("Acme").workspaces.get(replica_id)
    return str(workspace.status)


async def replica_reads(client: Client, values: dict[str, str]) -> list[tuple[str, dict[str, Any]]]:
    """(tool, its required arguments from `values`) for every read-only tool that takes a replica id."""
    reads = []
    for tool in (await client.list_tools()).tools:
        properties = tool.input_schema.get("properties", {})
        if "replica_id" not in properties or not (tool.annotations and tool.annotations.read_only_hint):
            continue
        arguments = dict(SHORT.get(tool.name, {}))
        for name in tool.input_schema.get("required", []):
            assert name in values, f"{tool.name} needs {name}: give read_everything a value for it"
            arguments[name] = values[name]
        reads.append((tool.name, arguments))
    return reads


async def read_everything(client: Client, replica_id: str, chat_id: str) -> list[str]:
    """Call every replica read without `wake` and read every replica resource; returns what each said."""
    said = []
    values = {"replica_id": replica_id, "chat_id": chat_id, "filename": CANVAS_FILE, "offset": "0"}
    for name, arguments in await replica_reads(client, values):
        with anyio.fail_after(20):
            result = await client.call_tool(name, arguments)
        if result.is_error:
            assert re.search(r"sleep|asleep|wake", text(result)), f"{name}: {text(result)}"
        said.append(f"{name}: {text(result)[:200]}")
    templates = (await client.list_resource_templates()).resource_templates
    for template in templates:
        if "{replica_id}" not in template.uri_template:
            continue
        uri = template.uri_template
        for name in re.findall(r"{(\w+)}", uri):
            assert name in values, (
                f"{template.uri_template} needs {name}: give read_everything a value for it"
            )
            uri = uri.replace(f"{{{name}}}", values[name])
        refusal = ""
        try:
            await client.read_resource(uri)
        except MCPError as error:
            refusal = error.message
        assert not refusal or re.search(r"sleep|asleep|awake|wake", refusal), f"{uri}: {refusal}"
        said.append(f"{uri}: {refusal[:200] or 'read'}")
    listed = data(await call(client, "list_replicas", {"needs_input": True}))
    said.append(f"list_replicas(needs_input): {listed}")
    return said


async def test_no_read_reaches_a_sleeping_replica_unless_asked_to_wake(sandbox: RunningSandbox) -> None:
    async with connect(sandbox, toolsets=("all",)) as client:
        replica_id = await new_replica(client, "sleepy", "Write the notes [[canvas:markdown]]")
        chat_id = data(await call(client, "list_chats", {"replica_id": replica_id}))["chats"][0]["id"]
        await force_status(sandbox, replica_id, "sleeping")
        sandbox.faults.stats.reset()

        said = await read_everything(client, replica_id, chat_id)
        # Delegating under its name: whether it is the same task cannot be read without waking it.
        again = {
            "environment_id": await bound_environment(client),
            "task": "Write the notes",
            "name": "sleepy",
        }
        said.append(text(await client.call_tool("delegate_task", {**again, "wait_s": 1})))

        assert replica_routes(sandbox) == {}, said
        assert listed_status(sandbox, replica_id) == "sleeping"

        woken = await client.call_tool("read_replica_history", {"replica_id": replica_id, "wake": True})
        assert not woken.is_error, text(woken)
        assert "Write the notes" in text(woken)
        assert listed_status(sandbox, replica_id) == "active", "wake=true is the way to read it"


async def test_a_replica_that_falls_asleep_under_a_wait_is_not_read_either(sandbox: RunningSandbox) -> None:
    """The server holds the replica's event stream while a wait follows a turn; the stream ends when the
    workspace sleeps, and the reads that follow must take it as asleep, not as still active."""
    async with connect(sandbox, toolsets=("all",)) as client:
        replica_id = await new_replica(client, "napper")
        chat_id = data(await call(client, "list_chats", {"replica_id": replica_id}))["chats"][0]["id"]
        slow_turn = {"replica_id": replica_id, "message": "Refactor [[slow:60]]"}
        await call(client, "send_replica_message", slow_turn)
        waited = data(await call(client, "wait_for_replica", {"replica_id": replica_id, "timeout_s": 1}))
        assert "working" in str(waited)
        await force_status(sandbox, replica_id, "sleeping")
        sandbox.faults.stats.reset()

        said = await read_everything(client, replica_id, chat_id)

        assert replica_routes(sandbox) == {}, said
        assert listed_status(sandbox, replica_id) == "sleeping"


@pytest.mark.parametrize("tool", ["get_replica", "list_chats", "read_replica_history"])
async def test_wake_true_wakes_and_reads(sandbox: RunningSandbox, tool: str) -> None:
    async with connect(sandbox, toolsets=("all",)) as client:
        replica_id = await new_replica(client, "sleepy")
        await force_status(sandbox, replica_id, "sleeping")
        result = await client.call_tool(tool, {"replica_id": replica_id, "wake": True})
        assert not result.is_error, text(result)
        assert listed_status(sandbox, replica_id) in ("preparing", "active")
