"""Webhooks land on any instance; subscribers are held by one instance each; Redis joins them."""

from __future__ import annotations

import anyio
import pytest
from mcp.server.subscriptions import ResourceUpdated
from mcp.shared.exceptions import MCPDeprecationWarning

from bench.fleet_procs import Fleet

from .helpers import mcp_at, ok, post_webhook, webhook_body

# The watcher finds no such replica, so only webhooks notify its subscribers.
WEBHOOK_ONLY = "r-fleet-webhook-only"


async def test_a_webhook_to_one_instance_notifies_a_listen_stream_on_another(fleet: Fleet) -> None:
    mcp1, mcp2, _ = fleet.instances
    uri = f"replicas://replicas/{WEBHOOK_ONLY}-a"
    async with mcp_at(mcp2.url) as client, client.listen(resource_subscriptions=[uri]) as updates:
        body = webhook_body("evt-fleet-a", f"{WEBHOOK_ONLY}-a")
        answer = await post_webhook(mcp1.url, body)
        assert answer.status_code == 200
        assert answer.json()["detail"] == "ok"
        with anyio.fail_after(5):
            update = await anext(updates)
        assert isinstance(update, ResourceUpdated)
        assert str(update.uri) == uri


async def test_a_webhook_through_nginx_notifies_a_legacy_session_on_a_named_instance(fleet: Fleet) -> None:
    received: list[str] = []
    got = anyio.Event()

    async def on_message(message: object) -> None:
        uri = getattr(getattr(message, "params", None), "uri", None)
        if uri is not None:
            received.append(str(uri))
            got.set()

    uri = f"replicas://replicas/{WEBHOOK_ONLY}-b"
    async with mcp_at(fleet.instances[2].url, mode="legacy", message_handler=on_message) as client:
        with pytest.warns(MCPDeprecationWarning):  # deprecated for 2026 clients; a 2025 client uses it
            await client.session.subscribe_resource(uri)
        for _ in range(3):  # nginx spreads deliveries over the pool; each reaches the subscriber's instance
            got = anyio.Event()
            body = webhook_body(f"evt-fleet-b-{len(received)}", f"{WEBHOOK_ONLY}-b")
            assert (await post_webhook(fleet.url, body)).status_code == 200
            with anyio.fail_after(5):
                await got.wait()
    assert received.count(uri) == 3


async def test_legacy_sessions_stick_to_their_instance_through_nginx(fleet: Fleet) -> None:
    """A 2025-era session lives on one instance: nginx routes its every request there (by the instance
    name the session id starts with), so a series of calls never meets 'session not found'."""
    async with mcp_at(fleet.url, mode="legacy") as client:
        assert client.protocol_version == "2025-11-25"
        for _ in range(6):
            listed = await ok(client, "list_environments", {})
            assert listed["environments"]


async def test_a_redelivered_webhook_is_a_duplicate_on_every_instance(fleet: Fleet) -> None:
    body = webhook_body("evt-fleet-dup", f"{WEBHOOK_ONLY}-c")
    first, *others = [await post_webhook(instance.url, body) for instance in fleet.instances]
    assert first.json()["detail"] == "ok"
    assert [answer.json()["detail"] for answer in others] == ["duplicate", "duplicate"]
