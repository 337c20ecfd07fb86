"""Past the stream limit the server degrades (a wait polls and says so) instead of freezing."""

from __future__ import annotations

import anyio
from mcp import Client

from replicas_mcp.client import ReplicasClient
from replicas_mcp.config import Settings
from replicas_mcp.sandbox.serve import RunningSandbox
from replicas_mcp.server import build_server

from ..helpers import repo_environment
from .helpers import tool


async def test_a_wait_past_the_stream_limit_polls_and_says_so_while_requests_still_flow(
    sandbox: RunningSandbox,
) -> None:
    async with ReplicasClient(api_key=sandbox.org_key, base_url=sandbox.base_url, max_streams=1) as api:
        settings = Settings(api_key=sandbox.org_key, base_url=sandbox.base_url, watch_poll_interval=0.05)
        async with Client(build_server(settings, client=api)) as client:
            env = await repo_environment(api)
            first, second = [
                (await tool(client, "delegate_task", environment_id=env, task=task, wait_s=0))["replicas"][0]
                for task in ("Slow one [[slow:200]]", "Slow two [[slow:200]]")
            ]
            notes: list[str] = []

            async def on_progress(progress: float, total: float | None, message: str | None) -> None:
                notes.append(message or "")

            async def hold_the_stream() -> None:
                await tool(client, "wait_for_replica", replica_id=first["replica_id"], timeout_s=3)

            with anyio.fail_after(20):
                async with anyio.create_task_group() as tg:  # the first wait holds the only stream
                    tg.start_soon(hold_the_stream)
                    await anyio.sleep(0.5)
                    result = await client.call_tool(
                        "wait_for_replica",
                        {"replica_id": second["replica_id"], "timeout_s": 2},
                        progress_callback=on_progress,
                    )
                    listed = await tool(client, "list_replicas")  # requests never wait for a stream
        assert not result.is_error
        assert any("following by polling" in note for note in notes)
        assert listed["replicas"]
