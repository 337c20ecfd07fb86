"""The shared-state interfaces' in-process implementations keep the contracts their docstrings state."""

from __future__ import annotations

import functools

import anyio

from replicas_mcp.client import ReplicasClient
from replicas_mcp.client.errors import NotFoundError
from replicas_mcp.client.events import Reconnected
from replicas_mcp.client.models import EngineEvent
from replicas_mcp.sandbox.serve import RunningSandbox
from replicas_mcp.server.state.directory import ReplicaDirectory
from replicas_mcp.server.state.knowledge import MemoryKnowledge, ReplicaFacts
from replicas_mcp.server.state.streams import EventFeed, SharedStreams, StreamLimitReached
from replicas_mcp.server.state.view import KnowingClient, KnowingReplicas

EVENTS_ROUTE = "GET /v1/replica/{id}/events"


def _fact(
    rid: str, name: str, status: str, seen_at: float, created: str = "2026-01-01T00:00:00Z"
) -> ReplicaFacts:
    return ReplicaFacts.from_record(
        {"id": rid, "name": name, "status": status, "created_at": created}, seen_at=seen_at
    )


async def test_knowledge_keeps_the_newest_fact_per_caller_and_indexes_names() -> None:
    store = MemoryKnowledge()
    await store.remember(
        "a", [_fact("r1", "fix", "active", 10.0), _fact("r2", "fix", "sleeping", 10.0, "2026-02-01")]
    )
    await store.remember("a", [_fact("r1", "fix", "sleeping", 5.0)])  # older: ignored
    assert (await store.get("a", "r1")).status == "active"  # type: ignore[union-attr]
    assert await store.get("b", "r1") is None  # callers never see each other's facts
    assert (await store.by_name("a", "fix")).id == "r2"  # type: ignore[union-attr]  # newest created
    assert sorted(f.id for f in await store.named("a", "fix")) == ["r1", "r2"]  # names are not unique
    assert await store.named("b", "fix") == []
    await store.forget("a", "r2")
    assert (await store.by_name("a", "fix")).id == "r1"  # type: ignore[union-attr]
    assert [f.id for f in await store.with_status("a", ["active"])] == ["r1"]
    await store.set_frontier("a", ["r1"], complete=True)
    await store.set_frontier("a", ["r3"], complete=False)
    assert await store.frontier("a") == (frozenset({"r3"}), True)  # complete stays true


async def _event(feed: EventFeed) -> EngineEvent:
    """The next item of a feed, which must be an event (no reconnect happens in these tests)."""
    event = await anext(feed)
    assert isinstance(event, EngineEvent)
    return event


async def _past_the_marker(feed: EventFeed) -> list[EngineEvent | Reconnected]:
    """A feed's items up to its first `Reconnected` marker and the item after it."""
    items: list[EngineEvent | Reconnected] = []
    while not items or not isinstance(items[-1], Reconnected):
        items.append(await anext(feed))
    items.append(await anext(feed))
    return items


async def _active_replica(client: ReplicasClient) -> str:
    env = next(env.id for env in await client.environments.list() if env.repository_id)
    item = await client.replicas.create(name="hub", message="Add a health endpoint", environment_id=env)
    with anyio.fail_after(10):
        while (status := await client.replicas.status(item.id)) is None or status.status != "active":
            await anyio.sleep(0.05)
    return item.id


async def test_readers_of_one_replica_share_one_upstream_and_resume_from_the_buffer(
    sandbox: RunningSandbox,
) -> None:
    async with ReplicasClient(api_key=sandbox.org_key, base_url=sandbox.base_url) as client:
        rid = await _active_replica(client)
        sandbox.faults.stats.reset()
        async with anyio.create_task_group() as tg:
            hub = SharedStreams(tg, linger=5.0)
            async with (
                hub.subscribe("me", rid, client, after=None) as first,
                hub.subscribe("me", rid, client, after=None) as second,
            ):
                assert not first.resumed  # no cursor: live from now
                await client.replicas.send_message(rid, "Now add a test")
                with anyio.fail_after(10):
                    a = [await _event(first) for _ in range(3)]
                    b = [await _event(second) for _ in range(3)]
            assert [e.id for e in a] == [e.id for e in b]
            # The reader that comes back with a cursor resumes on the lingering upstream's buffer.
            async with hub.subscribe("me", rid, client, after=a[0].id) as again:
                assert again.resumed
                with anyio.fail_after(10):
                    assert (await _event(again)).id == a[1].id
            assert sandbox.faults.stats.count("GET", "/v1/replica/{id}/events") == 1
            assert hub.opened == 1
            await hub.aclose()


async def test_a_reader_is_resumed_only_from_an_event_the_buffer_holds(sandbox: RunningSandbox) -> None:
    """An upstream opened from a cursor gets what the API sends after that `Last-Event-ID`, which neither
    document promises to be a replay: its readers from that cursor (and readers whose cursor is older than
    the buffer, on a private upstream) are not `resumed`, so a wait looks at the chats."""
    async with ReplicasClient(api_key=sandbox.org_key, base_url=sandbox.base_url) as client:
        rid = await _active_replica(client)
        async with anyio.create_task_group() as tg:
            hub = SharedStreams(tg, linger=5.0)
            async with hub.subscribe("me", rid, client, after="0") as opener:
                assert not opener.resumed
                await client.replicas.send_message(rid, "Now add a test")
                with anyio.fail_after(10):
                    heard = await _event(opener)
                async with hub.subscribe("me", rid, client, after="0") as same_start:
                    assert not same_start.resumed
                async with hub.subscribe("me", rid, client, after=heard.id) as from_buffer:
                    assert from_buffer.resumed
                async with hub.subscribe("me", rid, client, after="ev-unknown-000001") as older:
                    assert not older.resumed  # a private upstream from a cursor the buffer does not hold
            await hub.aclose()


async def test_every_reader_is_told_where_the_upstream_reconnected(sandbox: RunningSandbox) -> None:
    """The upstream's reconnect is not a replay (neither document promises one): each reader of the shared
    buffer gets a `Reconnected` marker in the gap's place, in order, so that a wait looks at the chats."""
    async with ReplicasClient(api_key=sandbox.org_key, base_url=sandbox.base_url) as client:
        rid = await _active_replica(client)
        sandbox.faults.drop_sse_after(1, replica_id=rid)
        async with anyio.create_task_group() as tg:
            hub = SharedStreams(tg, linger=5.0)
            async with (
                hub.subscribe("me", rid, client, after=None) as first,
                hub.subscribe("me", rid, client, after=None) as second,
            ):
                # A turn long enough (1 s of real time) to end after the reconnect (50 ms), so that an event
                # follows the marker.
                await client.replicas.send_message(rid, "Now add a test [[slow:20]]")
                with anyio.fail_after(10):
                    a = await _past_the_marker(first)
                    b = await _past_the_marker(second)
            # (A reader may join after the one event before the cut: only what follows it is compared.)
            assert a[-2:] == b[-2:]
            assert a[-2] == Reconnected(reconnects=1)
            assert isinstance(a[-1], EngineEvent)  # what the reconnected upstream sent
            assert hub.opened == 1  # the same upstream, reconnected by the client
            await hub.aclose()


async def test_past_the_stream_limit_a_reader_is_told_to_poll_and_errors_surface_on_open(
    sandbox: RunningSandbox,
) -> None:
    async with ReplicasClient(api_key=sandbox.org_key, base_url=sandbox.base_url) as client:
        rid = await _active_replica(client)
        async with anyio.create_task_group() as tg:
            hub = SharedStreams(tg, max_streams=1)
            async with hub.subscribe("me", rid, client, after=None):
                try:
                    async with hub.subscribe("other-caller", rid, client, after=None):
                        raise AssertionError("a second upstream was opened past the limit")
                except StreamLimitReached:
                    pass
            hub2 = SharedStreams(tg)
            try:
                async with hub2.subscribe("me", "r_missing", client, after=None):
                    raise AssertionError("opened a stream of a replica that does not exist")
            except NotFoundError:
                pass
            await hub.aclose()


def test_the_knowing_view_names_every_group_of_the_client_and_wraps_only_replicas() -> None:
    """No attribute magic: each group is assigned by name, so a group added to `ReplicasClient` and not
    to `KnowingClient` fails here (mypy cannot see a missing assignment)."""
    base = ReplicasClient(api_key="rk-test", base_url="http://127.0.0.1:9")
    view = KnowingClient(base, ReplicaDirectory(MemoryKnowledge()), None, caller="me")
    assert "__getattribute__" not in vars(KnowingClient)
    assert "__getattr__" not in vars(KnowingClient)
    groups = [name for name in vars(base) if not name.startswith("_")]
    groups += [
        name for name, value in vars(ReplicasClient).items() if isinstance(value, functools.cached_property)
    ]
    assert {"replicas", "chats", "environments", "automations"} <= set(groups)
    for name in groups:
        if name == "replicas":
            assert isinstance(view.replicas, KnowingReplicas)
        else:
            assert getattr(view, name) is getattr(base, name), name
