"""Streams and requests draw from separate connection budgets: no number of open event streams can delay
a request, and past the stream limit a new stream is refused at once with `StreamLimitError` (callers
degrade on it) instead of waiting for a connection. Over real loopback HTTP against the sandbox."""

from __future__ import annotations

import contextlib

import anyio
import pytest

from replicas_mcp.client import ReplicasClient, StreamLimitError
from replicas_mcp.client.errors import ConfigurationError, ReplicasError
from replicas_mcp.sandbox.serve import RunningSandbox

DEADLINE = 15


async def active_replica(client: ReplicasClient, name: str) -> str:
    with anyio.fail_after(DEADLINE):
        created = await client.replicas.create(environment_id="global", name=name, message="Say hello")
        while (item := await client.replicas.status(created.id)) is None or item.status != "active":
            await anyio.sleep(0.02)
    return created.id


async def test_a_request_completes_promptly_while_every_stream_slot_is_taken(
    sandbox: RunningSandbox,
) -> None:
    # One request connection and three stream slots: with one shared pool, the streams alone would
    # starve every request.
    async with ReplicasClient(
        api_key=sandbox.org_key, base_url=sandbox.base_url, max_connections=1, max_streams=3
    ) as client:
        replica_id = await active_replica(client, "busy-streams")
        async with contextlib.AsyncExitStack() as streams:
            with anyio.fail_after(DEADLINE):
                for _ in range(3):
                    await streams.enter_async_context(client.events.stream(replica_id))
            assert (client.open_streams, client.max_streams) == (3, 3)

            with anyio.fail_after(DEADLINE):  # with one shared pool these would wait for a stream to end
                page = await client.replicas.list(limit=5)
                chats = await client.chats.list(replica_id)
            assert page.total >= 1
            assert chats

            # Refused, not queued: a queued open would wait for one of the held streams, which never ends.
            with (
                pytest.raises(StreamLimitError, match="3 event-stream slots") as caught,
                anyio.fail_after(DEADLINE),
            ):
                await client.events.stream(replica_id).__aenter__()
            assert caught.value.limit == 3
            assert isinstance(caught.value, ReplicasError)
        assert client.open_streams == 0

        with anyio.fail_after(DEADLINE):
            async with client.events.stream(replica_id):  # the slots came back
                assert client.open_streams == 1


async def test_key_views_share_the_stream_budget(sandbox: RunningSandbox) -> None:
    async with ReplicasClient(api_key=sandbox.org_key, base_url=sandbox.base_url, max_streams=1) as client:
        replica_id = await active_replica(client, "shared-budget")
        view = client.with_api_key(sandbox.org_key)
        with anyio.fail_after(DEADLINE):
            async with view.events.stream(replica_id):
                assert client.open_streams == 1
                with pytest.raises(StreamLimitError):
                    await client.events.stream(replica_id).__aenter__()


def test_the_stream_limit_is_the_keyword_else_256_and_never_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The server's settings model owns REPLICAS_MCP_MAX_STREAMS and passes it in; the client reads none.
    monkeypatch.setenv("REPLICAS_MCP_MAX_STREAMS", "7")
    assert ReplicasClient(api_key="sk_replicas_budget", base_url="http://api.test").max_streams == 256
    assert (
        ReplicasClient(api_key="sk_replicas_budget", base_url="http://api.test", max_streams=2).max_streams
        == 2
    )
    with pytest.raises(ConfigurationError, match="max_streams"):
        ReplicasClient(api_key="sk_replicas_budget", base_url="http://api.test", max_streams=0)
