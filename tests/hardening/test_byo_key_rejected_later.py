"""byo-key: a caller whose own key the API rejects mid-session is told about their key, not the server's."""

from __future__ import annotations

import pytest
from mcp import MCPError
from mcp.types import TextContent

from replicas_mcp.sandbox.world import DEFAULT_ORG_KEY

from .http_helpers import http_server, mcp_client, recorded_sandbox


async def test_a_byo_key_rejected_after_the_session_began_names_the_callers_own_key() -> None:
    # The key was accepted when the session began (the verdict is cached for a minute); revoked since, the
    # API answers 401. The server's REPLICAS_API_KEY plays no part in byo-key mode: telling this caller to
    # fix the server's environment and restart it sends them to someone else's setting.
    async with (
        recorded_sandbox() as (sandbox, _),
        http_server(sandbox, auth="byo-key") as (url, _),
        mcp_client(url, bearer=DEFAULT_ORG_KEY) as client,
    ):
        assert not (await client.call_tool("list_replicas", {})).is_error
        sandbox.faults.inject_status(401, route="/v1/replica", method="GET")
        result = await client.call_tool("list_replicas", {})
    said = " ".join(block.text for block in result.content if isinstance(block, TextContent))
    assert result.is_error
    assert "REPLICAS_API_KEY" not in said, said
    assert "restart" not in said, said
    assert "bearer" in said.lower(), said
    assert DEFAULT_ORG_KEY not in said


async def test_a_resource_read_with_a_byo_key_rejected_later_names_the_callers_own_key() -> None:
    async with (
        recorded_sandbox() as (sandbox, _),
        http_server(sandbox, auth="byo-key") as (url, _),
        mcp_client(url, bearer=DEFAULT_ORG_KEY) as client,
    ):
        assert not (await client.call_tool("list_replicas", {})).is_error
        sandbox.faults.inject_status(401, route="/v1/replica", method="GET")
        with pytest.raises(MCPError) as refused:
            await client.read_resource("replicas://replicas")
    said = refused.value.message
    assert "REPLICAS_API_KEY" not in said, said
    assert "bearer" in said.lower(), said
