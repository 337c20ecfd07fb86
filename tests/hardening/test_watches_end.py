"""Watches end with their owner (issue 12, item 1): a legacy subscription ends with its session, an upstream
404 ends a watch and tells its subscribers, and a subscription's id is checked for shape before anything is
kept. All over loopback HTTP against the sandbox, counting the upstream requests it receives.
"""

from __future__ import annotations

import anyio
import pytest
from mcp import Client, MCPDeprecationWarning
from mcp.shared.exceptions import MCPError

from replicas_mcp.sandbox.world import DEFAULT_ORG_KEY

from ..helpers import force_status
from .http_helpers import HeaderRecorder, http_server, mcp_client, recorded_sandbox
from .test_byo_key_watches import _new_replica, _until, subscribed

KEY = DEFAULT_ORG_KEY
WATCHED = 5


def _requests_with(recorder: HeaderRecorder, key: str, since: int = 0) -> int:
    return sum(1 for _, _, k in recorder.requests[since:] if k == key)


async def test_a_legacy_subscription_ends_with_its_session() -> None:
    async with recorded_sandbox() as (sandbox, recorder), http_server(sandbox, auth="byo-key") as (url, _):
        ids = [await _new_replica(sandbox.base_url, KEY, f"sleeper{n}") for n in range(WATCHED)]
        for rid in ids:
            await force_status(sandbox, rid, "sleeping")  # watched by polling the list every 0.05 s
        uris = [f"replicas://replicas/{rid}" for rid in ids]
        mark = len(recorder.requests)
        async with subscribed(url, KEY, "legacy", uris):
            await _until(lambda: _requests_with(recorder, KEY, mark) >= WATCHED + 3)  # statuses, then polls
        # Leaving the block DELETEs the session: its watches stop with it.
        await anyio.sleep(0.1)
        ended = len(recorder.requests)
        await anyio.sleep(1.0)  # twenty poll intervals
        assert _requests_with(recorder, KEY, ended) <= 1


async def test_an_upstream_404_ends_the_watch_and_tells_its_subscribers() -> None:
    async with recorded_sandbox() as (sandbox, recorder), http_server(sandbox, auth="byo-key") as (url, _):
        rid = await _new_replica(sandbox.base_url, KEY, "vanishing")
        await force_status(sandbox, rid, "sleeping")
        async with mcp_client(url, bearer=KEY, mode="legacy") as warm:  # the key's upstream check is done
            assert not (await warm.call_tool("list_replicas", {})).is_error
        sandbox.faults.inject_status(404, route="/v1/replica", method="GET", times=None)
        async with subscribed(url, KEY, "legacy", [f"replicas://replicas/{rid}"]) as subscriber:
            with anyio.fail_after(10):
                await subscriber.got.wait()  # told: it re-reads the resource and learns why
            ended = len(recorder.requests)
            await anyio.sleep(1.0)
            assert _requests_with(recorder, KEY, ended) == 0  # no poll after the 404


async def _subscribe(client: Client, mode: str, uri: str) -> None:
    """Subscribe to `uri` in this era: legacy `resources/subscribe`, or open a listen stream for it."""
    if mode == "legacy":
        with pytest.warns(MCPDeprecationWarning):
            await client.session.subscribe_resource(uri)
        return
    async with client.listen(resource_subscriptions=[uri]) as updates:
        async for _ in updates:
            break


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_a_malformed_replica_id_is_refused_before_any_watch(mode: str) -> None:
    async with (
        recorded_sandbox() as (sandbox, recorder),
        http_server(sandbox, auth="byo-key") as (url, _),
        mcp_client(url, bearer=KEY, mode=mode) as client,
    ):
        mark = len(recorder.requests)
        for bad in ("r" * 10_000, "a..b", "a%2Fb"):
            with anyio.fail_after(5), pytest.raises(MCPError, match="Not a resource that can be subscribed"):
                await _subscribe(client, mode, f"replicas://replicas/{bad}")
        await anyio.sleep(0.2)
        assert _requests_with(recorder, KEY, mark) == 0  # no watch ever looked anything up
