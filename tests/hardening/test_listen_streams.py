"""Listen streams are bounded per caller (attacker review s4 #2): in byo-key mode one key held every
`subscriptions/listen` stream of the process (1,024) with streams that named no URI, and no other caller
could listen. Each stream now takes one of its caller's `--max-listen-streams` slots, URIs or not."""

from __future__ import annotations

from contextlib import AsyncExitStack

import pytest
from mcp.shared.exceptions import MCPError

from replicas_mcp.config import Settings
from replicas_mcp.sandbox.world import DEFAULT_ORG_KEY, DEFAULT_OTHER_ORG_KEY
from replicas_mcp.server import app as server_app

from .http_helpers import http_server, mcp_client, recorded_sandbox

CAP = 2


def test_listen_streams_are_capped_per_caller_by_default() -> None:
    assert Settings(transport="http", auth="byo-key").max_listen_streams == 32


async def test_one_caller_cannot_take_the_listen_streams_of_others() -> None:
    async with (
        recorded_sandbox() as (sandbox, _),
        http_server(sandbox, auth="byo-key", max_listen_streams=CAP) as (url, _),
        mcp_client(url, bearer=DEFAULT_OTHER_ORG_KEY) as attacker,
        mcp_client(url, bearer=DEFAULT_ORG_KEY) as victim,
    ):
        async with AsyncExitStack() as held:
            for _ in range(CAP):  # no URIs: these took no --max-subscriptions slot before
                await held.enter_async_context(attacker.listen(tools_list_changed=True))
            with pytest.raises(MCPError) as refused:
                async with attacker.listen(tools_list_changed=True):
                    pass
            message = str(refused.value)
            assert f"Too many listen streams for this caller: the server allows {CAP} at once" in message
            assert "Close a subscriptions/listen stream" in message  # and says what to do
            async with victim.listen(resource_subscriptions=["replicas://replicas"]) as sub:
                assert sub is not None  # another caller has its own slots
        async with attacker.listen(tools_list_changed=True):  # the closed streams gave theirs back
            pass


async def test_the_process_wide_listen_cap_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server_app, "LISTEN_STREAMS_PER_PROCESS", CAP + 1)
    async with (
        recorded_sandbox() as (sandbox, _),
        http_server(sandbox, auth="byo-key", max_listen_streams=CAP) as (url, _),
        mcp_client(url, bearer=DEFAULT_OTHER_ORG_KEY) as first,
        mcp_client(url, bearer=DEFAULT_ORG_KEY) as second,
        AsyncExitStack() as held,
    ):
        for client in (first, first, second):
            await held.enter_async_context(client.listen(tools_list_changed=True))
        with pytest.raises(MCPError) as refused:
            async with second.listen(tools_list_changed=True):
                pass
        assert f"This server has {CAP + 1} listen streams open, its limit: retry" in str(refused.value)


async def test_server_key_mode_has_no_per_caller_listen_cap() -> None:
    """Every client of a server-key server is the one caller: only the process's cap bounds its streams."""
    async with (
        recorded_sandbox() as (sandbox, _),
        http_server(sandbox, api_key=DEFAULT_ORG_KEY, max_listen_streams=1) as (url, _),
        mcp_client(url) as first,
        mcp_client(url) as second,
        first.listen(tools_list_changed=True),
        second.listen(tools_list_changed=True) as sub,
    ):
        assert sub is not None
