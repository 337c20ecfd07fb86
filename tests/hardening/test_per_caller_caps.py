"""Per-caller caps (issue 12, item 1): waits in flight and subscribed resources are bounded per caller by
default; the call past a cap gets a clear error while other callers are unaffected, and a session's
subscriptions give their slots back when the session ends."""

from __future__ import annotations

import anyio
import pytest
from mcp import Client, MCPDeprecationWarning
from mcp.shared.exceptions import MCPError
from mcp.types import CallToolResult, TextContent

from replicas_mcp.config import Settings
from replicas_mcp.sandbox.world import DEFAULT_ORG_KEY, DEFAULT_OTHER_ORG_KEY

from .http_helpers import http_server, mcp_client, recorded_sandbox
from .test_byo_key_watches import _new_replica

CAP = 2


def _text(result: CallToolResult) -> str:
    return " ".join(block.text for block in result.content if isinstance(block, TextContent))


def test_waits_and_subscriptions_are_capped_per_caller_by_default() -> None:
    settings = Settings(transport="http", auth="byo-key")
    assert settings.max_waits == 50
    assert settings.max_subscriptions == 200


async def test_a_subscription_past_the_callers_cap_is_refused_until_a_session_ends() -> None:
    async with (
        recorded_sandbox() as (sandbox, _),
        http_server(sandbox, auth="byo-key", max_subscriptions=CAP) as (url, _),
    ):
        rids = [await _new_replica(sandbox.base_url, DEFAULT_ORG_KEY, f"sub{n}") for n in range(CAP + 1)]
        other_rid = await _new_replica(sandbox.base_url, DEFAULT_OTHER_ORG_KEY, "other-sub")
        uris = [f"replicas://replicas/{rid}" for rid in rids]
        async with mcp_client(url, bearer=DEFAULT_ORG_KEY, mode="legacy") as first:
            for uri in uris[:CAP]:
                await _subscribe(first, uri)
            await _subscribe(first, uris[0])  # held already: no second slot
            async with mcp_client(url, bearer=DEFAULT_ORG_KEY, mode="legacy") as second:
                with pytest.raises(MCPError) as refused:
                    await _subscribe(second, uris[CAP])
                assert f"Too many subscriptions for this caller: the server allows {CAP}" in str(
                    refused.value
                )
                assert "Unsubscribe" in str(refused.value)  # and says what to do
                async with mcp_client(url, bearer=DEFAULT_OTHER_ORG_KEY, mode="legacy") as other:
                    await _subscribe(other, f"replicas://replicas/{other_rid}")  # its own slots
                with pytest.warns(MCPDeprecationWarning):
                    await first.session.unsubscribe_resource(uris[0])  # unsubscribing frees a slot
                await _subscribe(second, uris[CAP])
                with pytest.raises(MCPError):  # full again: `first` still holds uris[1]
                    await _subscribe(second, uris[0])
        # `first` ended (the client's DELETE): its remaining subscription's slot is the caller's again.
        async with mcp_client(url, bearer=DEFAULT_ORG_KEY, mode="legacy") as third:
            await _subscribe(third, uris[0])


async def _subscribe(client: Client, uri: str) -> None:
    """Legacy `resources/subscribe`, as a 2025-era client sends it (deprecated for 2026 clients)."""
    with pytest.warns(MCPDeprecationWarning):
        await client.session.subscribe_resource(uri)


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
            assert f"Too many waiting calls in flight for this caller: the server allows {CAP}" in _text(
                refused
            )
            # Another caller has its own slots.
            assert not (
                await other.call_tool("wait_for_replica", {"replica_id": other_rid, "timeout_s": 1})
            ).is_error
        assert len(results) == CAP
        assert not any(result.is_error for result in results)
        sandbox.faults.clear()
        assert not (await client.call_tool("wait_for_replica", args)).is_error  # slots given back


async def test_delegate_task_waits_count_against_the_callers_wait_cap() -> None:
    """delegate_task waits up to wait_s on the caller's stream: it holds a wait slot like wait_for_replica."""
    async with (
        recorded_sandbox() as (sandbox, _),
        http_server(sandbox, auth="byo-key", max_waits=CAP) as (url, _),
        mcp_client(url, bearer=DEFAULT_ORG_KEY) as client,
    ):
        await _new_replica(sandbox.base_url, DEFAULT_ORG_KEY, "slow")
        args = {"environment_id": "global", "task": "Fix it", "name": "slow", "wait_s": 2}
        assert not (await client.call_tool("list_replicas", {})).is_error
        sandbox.faults.add_latency(1.5, method="GET")
        results: list[CallToolResult] = []

        async def delegate() -> None:
            results.append(await client.call_tool("delegate_task", args))

        async with anyio.create_task_group() as tasks:
            for _ in range(CAP):
                tasks.start_soon(delegate)
            await anyio.sleep(0.5)
            refused = await client.call_tool("delegate_task", args)
            assert refused.is_error, "a third waiting call ran past the cap"
            assert f"Too many waiting calls in flight for this caller: the server allows {CAP}" in _text(
                refused
            )
        assert len(results) == CAP
