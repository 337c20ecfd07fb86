"""byo-key: one caller holds at most its share of the upstream event streams (attacker review s4 #15);
past it, that caller's waits poll (and say so) while another caller still gets a stream of its own."""

from __future__ import annotations

import anyio
from mcp import Client

from replicas_mcp.client import ReplicasClient
from replicas_mcp.config import Settings
from replicas_mcp.sandbox.world import DEFAULT_ORG_KEY, DEFAULT_OTHER_ORG_KEY

from .http_helpers import http_server, mcp_client, recorded_sandbox


async def _new_replica(base_url: str, key: str, name: str) -> str:
    """A replica whose agent stays busy for the test (a wait on it holds a stream)."""
    async with ReplicasClient(api_key=key, base_url=base_url) as api:
        created = await api.replicas.create(name=name, message="Slow [[slow:200]]", environment_id="global")
    return created.id


def test_a_callers_share_defaults_to_a_quarter_of_the_streams() -> None:
    from replicas_mcp.server.app import _stream_share

    assert _stream_share(Settings(transport="http", auth="byo-key"), 256) == 64
    assert _stream_share(Settings(transport="http", auth="byo-key", max_streams_per_caller=3), 256) == 3
    assert _stream_share(Settings(transport="http", api_key="sk_replicas_sandbox_org"), 256) is None


async def _wait(client: Client, replica_id: str, timeout_s: int, notes: list[str]) -> None:
    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        notes.append(message or "")

    result = await client.call_tool(
        "wait_for_replica", {"replica_id": replica_id, "timeout_s": timeout_s}, progress_callback=on_progress
    )
    assert not result.is_error


async def test_one_caller_past_its_share_polls_and_another_caller_still_streams() -> None:
    async with (
        recorded_sandbox() as (sandbox, _),
        http_server(sandbox, auth="byo-key", max_streams_per_caller=1) as (url, _),
        mcp_client(url, bearer=DEFAULT_OTHER_ORG_KEY) as greedy,
        mcp_client(url, bearer=DEFAULT_ORG_KEY) as other,
    ):
        held, second = [
            await _new_replica(sandbox.base_url, DEFAULT_OTHER_ORG_KEY, f"greedy-{n}") for n in (1, 2)
        ]
        mine = await _new_replica(sandbox.base_url, DEFAULT_ORG_KEY, "other")
        greedy_notes: list[str] = []
        other_notes: list[str] = []
        with anyio.fail_after(30):
            async with anyio.create_task_group() as tasks:
                tasks.start_soon(_wait, greedy, held, 3, [])  # takes the greedy caller's one stream
                await anyio.sleep(0.5)
                await _wait(greedy, second, 1, greedy_notes)
                await _wait(other, mine, 1, other_notes)
        assert any("share of live streams (1) is taken; following by polling" in n for n in greedy_notes), (
            greedy_notes
        )
        assert not any("following by polling" in n for n in other_notes)
