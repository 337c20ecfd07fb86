"""Per-caller caps (issue 12, item 1): waits in flight are bounded per caller by default,
and the call past the cap gets a clear error while other callers are unaffected."""

from __future__ import annotations

import anyio
from mcp.types import CallToolResult, TextContent

from replicas_mcp.config import Settings
from replicas_mcp.sandbox.world import DEFAULT_ORG_KEY, DEFAULT_OTHER_ORG_KEY

from .http_helpers import http_server, mcp_client, recorded_sandbox
from .test_byo_key_watches import _new_replica

CAP = 2


def _text(result: CallToolResult) -> str:
    return " ".join(block.text for block in result.content if isinstance(block, TextContent))


def test_waits_are_capped_per_caller_by_default() -> None:
    assert Settings(transport="http", auth="byo-key").max_waits == 50


async def test_a_wait_past_the_callers_cap_is_refused_and_others_go_on() -> None:
    async with (
        recorded_sandbox() as (sandbox, _),
        http_server(sandbox, auth="byo-key", max_waits=CAP) as (url, _),
        mcp_client(url, bearer=DEFAULT_ORG_KEY) as client,
        mcp_client(url, bearer=DEFAULT_OTHER_ORG_KEY) as other,
    ):
        rid = await _new_replica(sandbox.base_url, DEFAULT_ORG_KEY, "slow")
        other_rid = await _new_replica(sandbox.base_url, DEFAULT_OTHER_ORG_KEY, "other")
        args = {"replica_id": rid, "timeout_s": 1}
        assert not (await client.call_tool("list_replicas", {})).is_error  # both keys checked upstream
        assert not (await other.call_tool("list_replicas", {})).is_error
        sandbox.faults.add_latency(1.5, method="GET")  # every wait now takes a while
        results: list[CallToolResult] = []

        async def wait() -> None:
            results.append(await client.call_tool("wait_for_replica", args))

        async with anyio.create_task_group() as tasks:
            for _ in range(CAP):
                tasks.start_soon(wait)
            await anyio.sleep(0.5)  # both are in flight
            refused = await client.call_tool("wait_for_replica", args)
            assert refused.is_error
            assert f"Too many waits in flight for this caller: the server allows {CAP}" in _text(refused)
            # Another caller has its own slots.
            assert not (
                await other.call_tool("wait_for_replica", {"replica_id": other_rid, "timeout_s": 1})
            ).is_error
        assert len(results) == CAP
        assert not any(result.is_error for result in results)
        sandbox.faults.clear()
        assert not (await client.call_tool("wait_for_replica", args)).is_error  # slots given back
