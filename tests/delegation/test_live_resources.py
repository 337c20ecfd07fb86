"""A subscriber to a delegated replica's status resource hears about it while the delegation runs."""

from __future__ import annotations

import anyio
import pytest
from mcp import Client
from mcp.client.subscriptions import ResourceUpdated

from replicas_mcp.client import ReplicasClient
from replicas_mcp.client.models import ReplicaChat
from replicas_mcp.sandbox.serve import RunningSandbox

from ..helpers import repo_environment
from .helpers import sandbox_client, server

pytestmark = pytest.mark.usefixtures("fast_waits")


async def test_status_resource_updates_as_a_delegated_turn_runs(sandbox: RunningSandbox) -> None:
    async with sandbox_client(sandbox) as api, Client(server(sandbox, api)) as client:
        environment = await repo_environment(api)
        with anyio.fail_after(30):
            started = await client.call_tool(
                "delegate_task",
                {"environment_id": environment, "task": "Tidy the README [[slow:100]]", "wait_s": 1},
            )
        assert not started.is_error, started.content
        assert started.structured_content is not None
        row = started.structured_content["replicas"][0]
        assert not row["done"], "the turn should still be running when we subscribe"
        uri = f"replicas://replicas/{row['replica_id']}"

        async with client.listen(resource_subscriptions=[uri]) as updates:
            with anyio.fail_after(30):
                waited = await client.call_tool(
                    "wait_for_replica",
                    {"replica_id": row["replica_id"], "cursor": row["cursor"], "timeout_s": 20},
                )
                assert not waited.is_error, waited.content
                assert waited.structured_content is not None
                assert waited.structured_content["replicas"][0]["done"]
                update = await anext(updates)
        assert isinstance(update, ResourceUpdated)
        assert str(update.uri) == uri

        resource = await client.read_resource(uri)
        assert '"status"' in resource.contents[0].text  # type: ignore[union-attr]


async def test_a_subscriber_hears_when_the_agent_pauses_on_a_question(sandbox: RunningSandbox) -> None:
    """The pause comes mid-turn (a chat summary with awaitingInput, no turn event): it still notifies, and
    the resource then shows needs_input."""
    async with sandbox_client(sandbox) as api, Client(server(sandbox, api)) as client:
        environment = await repo_environment(api)
        task = "Add auth [[slow:100]] [[ask: OAuth or keys?]]"
        started = await client.call_tool(
            "delegate_task", {"environment_id": environment, "task": task, "wait_s": 0}
        )
        assert started.structured_content is not None
        replica_id = started.structured_content["replicas"][0]["replica_id"]
        uri = f"replicas://replicas/{replica_id}"
        with anyio.fail_after(10):  # subscribe once the turn runs, seconds before the agent pauses
            while not any(chat.processing for chat in await _chats_if_active(api, replica_id)):
                await anyio.sleep(0.05)
        shown = ""
        async with client.listen(resource_subscriptions=[uri]) as updates:
            with anyio.fail_after(8):  # before the bulk status poll (10 s) could stand in
                while "OAuth or keys?" not in shown:
                    await anext(updates)
                    resource = await client.read_resource(uri)
                    shown = resource.contents[0].text  # type: ignore[union-attr]
        assert '"needs_input"' in shown


async def _chats_if_active(api: ReplicasClient, replica_id: str) -> list[ReplicaChat]:
    status = await api.replicas.status(replica_id)
    return list(await api.chats.list(replica_id)) if status is not None and status.status == "active" else []
