"""Issue 12 #8, #10, #11: read-only never wakes; ids are not echoed; the history resource is bounded.

- #8: on a `--read-only` server, `wake=true` wakes (and bills) nothing, on any tool that offers it.
- #10: a model steered into passing the server's own API key as a `replica_id` never gets it back in the
  "not found" error, from any tool that takes a replica id.
- #11: `replicas://replicas/{id}/history` is bounded like `read_replica_history` (100,000 characters) and
  says how to read the older part, which `…/history/{offset}` serves.
"""

from __future__ import annotations

import anyio
import pytest
from mcp import MCPError
from mcp.types import TextResourceContents

from replicas_mcp.sandbox.serve import RunningSandbox

from ..helpers import force_status, text
from ..server.helpers import call, connect, data, new_replica

WAKE_ROUTES = ("POST /v1/replica/{id}/wake", "GET /v1/replica/{id}")


def _wakes(sandbox: RunningSandbox) -> int:
    stats = sandbox.world.faults.stats
    return sum(stats.count(*route.split(" ", 1)) for route in WAKE_ROUTES)


async def test_read_only_never_wakes(sandbox: RunningSandbox) -> None:
    async with connect(sandbox, toolsets=("all",)) as client:
        rid = await new_replica(client, "asleep", "Nap [[no-changes]]")
    await force_status(sandbox, rid, "sleeping")
    before = _wakes(sandbox)
    async with connect(sandbox, toolsets=("all",), read_only=True) as client:
        for tool in (
            "read_replica_history",
            "get_replica",
            "list_chats",
            "list_canvas_items",
            "get_replica_hooks",
        ):
            with anyio.fail_after(20):
                result = await client.call_tool(tool, {"replica_id": rid, "wake": True})
            assert "wake=true" not in text(result), (tool, text(result))  # nothing offers what cannot be done
        listed = data(await call(client, "list_replicas", {}))["replicas"]
    assert _wakes(sandbox) == before
    assert next(r for r in listed if r["id"] == rid)["status"] == "sleeping"


async def test_the_servers_key_passed_as_an_id_is_not_echoed(sandbox: RunningSandbox) -> None:
    key = sandbox.org_key
    async with connect(sandbox, toolsets=("all",), confirm_destructive="never") as client:
        for tool in (
            "get_replica",
            "read_replica_history",
            "get_replica_result",
            "wait_for_replica",
            "list_chats",
            "get_replica_hooks",
            "delete_replica",
        ):
            arguments = {"replica_id": key, **({"timeout_s": 1} if tool == "wait_for_replica" else {})}
            with anyio.fail_after(20):
                result = await client.call_tool(tool, arguments)
            assert result.is_error, tool
            shown = text(result) + str(result.structured_content or "")
            assert key not in shown, (tool, shown)
            assert key[4:] not in shown, (tool, shown)
            assert "list_replicas" in shown
        for uri in (f"replicas://replicas/{key}", f"replicas://replicas/{key}/history"):
            with pytest.raises(MCPError) as refused:
                await client.read_resource(uri)
            assert key not in str(refused.value), uri


async def test_the_history_resource_is_bounded_and_pages_back(sandbox: RunningSandbox) -> None:
    long_message = "Refactor this module carefully. " * 2_000  # ~64,000 characters per message
    async with connect(sandbox, toolsets=("all",)) as client:
        rid = await new_replica(client, "chatty", long_message + "[[no-changes]]")
        for n in range(3):
            await call(client, "send_replica_message", {"replica_id": rid, "message": f"{n} {long_message}"})
        history = ""
        with anyio.fail_after(30):  # until the last turn has run and the transcript outgrows the bound
            while "older events: read" not in history:
                await anyio.sleep(0.2)
                contents = (await client.read_resource(f"replicas://replicas/{rid}/history")).contents
                history = "\n".join(c.text for c in contents if isinstance(c, TextResourceContents))
        assert len(history) <= 100_000 + 1_000  # the bound, plus the fence and the paging line
        assert f"replicas://replicas/{rid}/history/" in history
        pointer = history.split(f"replicas://replicas/{rid}/history/", 1)[1].split(")", 1)[0]
        older = await client.read_resource(f"replicas://replicas/{rid}/history/{pointer}")
        older_text = "\n".join(c.text for c in older.contents if isinstance(c, TextResourceContents))
        assert "untrusted-data" in older_text
        assert len(older_text) <= 100_000 + 1_000
