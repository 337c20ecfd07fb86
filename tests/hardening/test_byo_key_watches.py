"""byo-key live status: watches are per caller, never shared across keys (SECURITY.md, byo-key).

Two organizations subscribe over HTTP to the same replica id (the owner's): only the owner is notified, the
other's subscription (before or after the owner's) neither stops the owner's watch nor joins it, every
upstream call of a watch carries its own caller's key, and two subscribers with the same key share one
upstream event stream. Webhook events reach only callers whose own key was seen to reach the replica.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager

import anyio
import pytest
from mcp import Client, MCPDeprecationWarning
from mcp.client.session import IncomingMessage
from mcp.client.subscriptions import ResourceUpdated

from replicas_mcp.client import ReplicasClient
from replicas_mcp.sandbox.world import DEFAULT_ORG_KEY, DEFAULT_OTHER_ORG_KEY
from replicas_mcp.server.webhook_receiver import WEBHOOK_PATH

from .http_helpers import HeaderRecorder, http_server, mcp_client, recorded_sandbox
from .test_webhook_receiver import SECRET, event, post, signed

OWNER, OTHER = DEFAULT_ORG_KEY, DEFAULT_OTHER_ORG_KEY


def _uris(replica_id: str) -> list[str]:
    return [f"replicas://replicas/{replica_id}", f"replicas://replicas/{replica_id}/history"]


def _events_path(replica_id: str) -> str:
    return f"/v1/replica/{replica_id}/events"


class Subscriber:
    """One MCP session over HTTP, subscribed to URIs in its era; collects the URIs it is told of."""

    def __init__(self, client: Client, mode: str) -> None:
        self.client = client
        self.mode = mode
        self.received: list[str] = []
        self.got = anyio.Event()

    def record(self, uri: str) -> None:
        self.received.append(uri)
        self.got.set()

    async def on_message(self, message: IncomingMessage) -> None:  # legacy sessions' notifications
        uri = getattr(getattr(message, "params", None), "uri", None)
        if uri is not None:
            self.record(str(uri))


@asynccontextmanager
async def subscribed(url: str, key: str, mode: str, uris: list[str]) -> AsyncIterator[Subscriber]:
    """A session with `key` subscribed to `uris`: a `subscriptions/listen` stream (2026-07-28) or legacy
    `resources/subscribe` calls, whose notifications are collected until the block ends."""
    async with AsyncExitStack() as stack:
        holder: list[Subscriber] = []

        async def forward(message: IncomingMessage) -> None:
            if holder:
                await holder[0].on_message(message)

        client = await stack.enter_async_context(
            mcp_client(url, bearer=key, mode=mode, message_handler=forward)
        )
        subscriber = Subscriber(client, mode)
        holder.append(subscriber)
        if mode == "legacy":
            for uri in uris:
                with pytest.warns(MCPDeprecationWarning):  # deprecated for 2026 clients; a 2025 one uses it
                    await client.session.subscribe_resource(uri)
            yield subscriber
            return
        updates = await stack.enter_async_context(client.listen(resource_subscriptions=uris))
        tasks = await stack.enter_async_context(anyio.create_task_group())

        async def pump() -> None:
            async for update in updates:
                if isinstance(update, ResourceUpdated):
                    subscriber.record(str(update.uri))

        tasks.start_soon(pump)
        try:
            yield subscriber
        finally:
            tasks.cancel_scope.cancel()


async def _new_replica(base_url: str, key: str, name: str) -> str:
    async with ReplicasClient(api_key=key, base_url=base_url) as api:
        created = await api.replicas.create(name=name, message="Fix it", environment_id="global")
    return created.id


async def _until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    with anyio.fail_after(timeout):
        while not check():
            await anyio.sleep(0.02)


def _keys_on(recorder: HeaderRecorder, method: str, path: str, since: int = 0) -> list[str]:
    return [key for m, p, key in recorder.requests[since:] if (m, p) == (method, path)]


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_only_the_owner_is_notified_and_another_org_cannot_stop_or_join_its_watch(mode: str) -> None:
    async with recorded_sandbox() as (sandbox, recorder), http_server(sandbox, auth="byo-key") as (url, _):
        rid = await _new_replica(sandbox.base_url, OWNER, "owned")
        uris = _uris(rid)
        # The other organization subscribes first: its watch (with its own key) finds nothing and ends.
        mark = len(recorder.requests)
        async with subscribed(url, OTHER, mode, uris[:1]) as early:
            await _until(lambda: OTHER in _keys_on(recorder, "GET", "/v1/replica", mark))
            await anyio.sleep(0.2)  # let that watch end (the old shared watch ended here for everyone)
            async with (
                subscribed(url, OWNER, mode, uris) as owner,
                subscribed(url, OTHER, mode, uris) as late,  # after the owner's: must not join its watch
            ):
                result = await owner.client.call_tool(
                    "send_replica_message", {"replica_id": rid, "message": "Add a test"}
                )
                assert not result.is_error
                with anyio.fail_after(10):
                    await owner.got.wait()
                assert set(owner.received) <= set(uris)
                await anyio.sleep(0.5)  # time for anything misrouted to arrive
                assert early.received == []
                assert late.received == []
        # Upstream: only the owner's key ever streamed the replica's events; the other org's watches used
        # the other org's key (and found nothing to stream).
        streamed = _keys_on(recorder, "GET", _events_path(rid))
        assert streamed
        assert set(streamed) == {OWNER}
        assert OTHER in _keys_on(recorder, "GET", "/v1/replica", mark)


async def test_two_subscribers_with_the_same_key_share_one_upstream_stream() -> None:
    async with recorded_sandbox() as (sandbox, recorder), http_server(sandbox, auth="byo-key") as (url, _):
        rid = await _new_replica(sandbox.base_url, OWNER, "shared")
        uris = _uris(rid)
        async with (
            subscribed(url, OWNER, "auto", uris[:1]) as first,
            subscribed(url, OWNER, "auto", uris) as second,
            subscribed(url, OTHER, "auto", uris) as other,
        ):
            result = await first.client.call_tool(
                "send_replica_message", {"replica_id": rid, "message": "Once more"}
            )
            assert not result.is_error
            with anyio.fail_after(10):
                await first.got.wait()
                await second.got.wait()
            await anyio.sleep(0.3)
            assert other.received == []
            assert _keys_on(recorder, "GET", _events_path(rid)) == [OWNER]  # one stream for both sessions


async def test_webhook_events_reach_only_callers_who_can_see_the_replica() -> None:
    async with (
        recorded_sandbox() as (sandbox, recorder),
        http_server(sandbox, auth="byo-key", webhook_secret=SECRET) as (url, _),
    ):
        rid = await _new_replica(sandbox.base_url, OWNER, "hooked")
        uris = _uris(rid)
        async with (
            subscribed(url, OTHER, "auto", uris) as other,
            subscribed(url, OWNER, "auto", uris) as owner,
        ):
            # Both watches have checked the replica with their own key (the owner's found it).
            await _until(lambda: OWNER in _keys_on(recorder, "GET", _events_path(rid)))
            await _until(lambda: OTHER in _keys_on(recorder, "GET", "/v1/replica"))
            await anyio.sleep(0.2)
            owner_before = len(owner.received)
            body = event("evt_byo", rid)
            response = await post(f"{url}{WEBHOOK_PATH}", body, signed(body, "evt_byo"))
            assert response.status_code == 200
            await _until(lambda: len(owner.received) > owner_before)
            await anyio.sleep(0.3)
            assert other.received == []
