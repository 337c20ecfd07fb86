"""An instance dies: nothing it was doing is lost. Waits resume from their cursors anywhere (the cursor
carries the position, not the instance), and 2026-era subscriptions are opened again on another one.

The fleet's sandbox is strict: like an API that does not replay after `Last-Event-ID` (neither document
promises it), a stream starts at the live end. So a wait counts the events from when its stream opened,
and what ended before is learned from the list and the chats: no turn is lost or reported twice. Against
a sandbox that replays (the API's other possible behaviour), no event is lost either."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

import anyio
import pytest
from mcp.server.subscriptions import ResourceUpdated

from bench.fleet_procs import Fleet, Instance
from replicas_mcp.client import ReplicasClient
from replicas_mcp.delegation import Cursor
from replicas_mcp.sandbox import DEFAULT_ORG_KEY

from .helpers import mcp_at, ok, post_webhook, text_of, webhook_body


def _count(text: str, what: str) -> int:
    found = re.search(rf"(\d+) {re.escape(what)}", text)
    return int(found.group(1)) if found else 0


def _sequence(cursor: str) -> int:
    event_id = Cursor.decode(cursor).event_id or "0"
    return int(event_id.rsplit("-", 1)[-1])


async def _wait(url: str, replica_id: str, cursor: str) -> tuple[tuple[int, int], str, dict[str, Any]]:
    """(events, turns completed) the wait reported, its cursor, and its structured result."""
    async with mcp_at(url) as client:
        result = await client.call_tool(
            "wait_for_replica", {"replica_id": replica_id, "cursor": cursor, "timeout_s": 30}
        )
    assert not result.is_error, text_of(result)
    assert isinstance(result.structured_content, dict)
    text = text_of(result)
    counts = (_count(text, "events"), _count(text, "turn(s) completed"))
    return counts, str(result.structured_content["replicas"][0]["cursor"]), result.structured_content


@dataclass
class _Pair:
    """Two instances behind one nginx, on a sandbox that does or does not replay after `Last-Event-ID`."""

    first: Instance
    second: Instance
    url: str  # nginx in front of both
    sandbox_url: str


def _pair(fleet: Fleet, replaying: bool) -> _Pair:
    if not replaying:  # the fleet's own: strict, no replay
        mcp1, mcp2, _ = fleet.instances
        return _Pair(mcp1, mcp2, fleet.url, fleet.sandbox_url)
    sandbox_url = fleet.spawn_sandbox("sandbox-replaying", "--replay")
    db = fleet.fresh_db()
    first, second = (fleet.spawn(name, db=db, sandbox_url=sandbox_url) for name in ("mcpr1", "mcpr2"))
    for instance in (first, second):
        fleet.wait_healthy(instance)
    url, _ = fleet.front("front-replaying", [first, second])
    return _Pair(first, second, url, sandbox_url)


@pytest.mark.parametrize("replaying", [False, True], ids=["api-without-replay", "api-replaying"])
async def test_a_wait_killed_with_its_instance_resumes_on_another_without_losing_or_repeating(
    healthy_fleet: Fleet, replaying: bool
) -> None:
    pair = _pair(healthy_fleet, replaying)
    async with mcp_at(pair.url) as client:
        environment = (await ok(client, "list_environments", {}))["environments"][0]["id"]
        launched = await ok(
            client,
            "delegate_task",
            {
                "environment_id": environment,
                "task": "Refactor [[slow:200]]",
                "name": f"failover-{uuid.uuid4().hex[:6]}",
                "wait_s": 0,
            },
        )
    replica_id = str(launched["replicas"][0]["replica_id"])
    start = str(launched["replicas"][0]["cursor"])

    # A wait on the first instance is under way (the turn takes ~10 s) when that instance is killed.
    outcome: list[object] = []

    async def doomed_wait() -> None:
        try:
            outcome.append(await _wait(pair.first.url, replica_id, start))
        except Exception as exc:  # whatever the transport raises on a dead peer
            outcome.append(exc)

    async with anyio.create_task_group() as tasks:
        tasks.start_soon(doomed_wait)
        await anyio.sleep(1.0)
        pair.first.child.kill()
    assert isinstance(outcome[0], Exception), f"the wait ended before its instance died: {outcome}"

    # The client retries with the last cursor it was given, on another instance, then goes on via nginx.
    reads = []
    events, cursor, first = await _wait(pair.second.url, replica_id, start)
    reads.append((events, start, cursor))
    assert first["replicas"][0]["done"], first
    async with mcp_at(pair.url) as client:
        await ok(
            client, "send_replica_message", {"replica_id": replica_id, "message": "Add docs [[slow:20]]"}
        )
    previous = cursor
    events, cursor, _ = await _wait(pair.url, replica_id, previous)
    reads.append((events, previous, cursor))

    # No turn is lost or repeated, whatever the API does: each read reports its own turn, once (the first
    # one's although the replica booted and began it before the second instance opened a stream).
    assert [turns for (_, turns), _, _ in reads] == [1, 1]
    if not replaying:
        # Each read counted only events after its cursor, each once. Events sent while no instance was
        # reading are not counted: neither document promises a replay after `Last-Event-ID`.
        for (count, _), before, after in reads:
            assert 0 < count <= _sequence(after) - _sequence(before)  # the start cursor is sequence 0
        return
    # Where the API replays, no event is lost either: each read covered exactly the events between its
    # cursors, and together they are the whole stream up to the last cursor.
    for (count, _), before, after in reads:
        assert count == _sequence(after) - _sequence(before)
    final, seen = Cursor.decode(cursor).event_id, 0
    async with ReplicasClient(api_key=DEFAULT_ORG_KEY, base_url=pair.sandbox_url) as replicas:
        with anyio.fail_after(15):
            async with replicas.events.stream(replica_id, last_event_id="0") as stream:
                async for event in stream:
                    seen += 1
                    if event.id == final:
                        break
    assert sum(count for (count, _), _, _ in reads) == seen


async def test_a_listen_stream_of_a_killed_instance_resumes_on_another(healthy_fleet: Fleet) -> None:
    fleet = healthy_fleet
    doomed = fleet.instances[0]
    uri = "replicas://replicas/r-fleet-resumed"

    async def listen_while_it_dies() -> None:
        async with mcp_at(doomed.url) as client, client.listen(resource_subscriptions=[uri]) as updates:
            doomed.child.kill()
            with anyio.fail_after(10):
                await anext(updates)

    with pytest.raises(Exception):  # noqa: B017, PT011 - the stream breaks when its instance dies
        await listen_while_it_dies()
    # The client opens its subscription again, through nginx (which skips the dead instance).
    async with mcp_at(fleet.url) as client, client.listen(resource_subscriptions=[uri]) as updates:
        body = webhook_body(f"evt-resumed-{uuid.uuid4().hex[:6]}", "r-fleet-resumed")
        assert (await post_webhook(fleet.url, body)).status_code == 200
        with anyio.fail_after(5):
            update = await anext(updates)
        assert isinstance(update, ResourceUpdated)
        assert str(update.uri) == uri
