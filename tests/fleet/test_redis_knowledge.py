"""The knowledge store's contracts (state/knowledge.py), held by the in-process store and by Redis alike."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from bench.fleet_procs import Fleet
from replicas_mcp.server.state.knowledge import KnowledgeStore, MemoryKnowledge, ReplicaFacts
from replicas_mcp.server.state.redis_state import RedisSharedState


@pytest.fixture(params=["memory", "redis"])
async def store(request: pytest.FixtureRequest, fleet: Fleet) -> AsyncIterator[KnowledgeStore]:
    if request.param == "memory":
        yield MemoryKnowledge()
        return
    shared = RedisSharedState(fleet.redis_url)
    try:
        yield shared.knowledge_store()
    finally:
        await shared.redis.aclose()


def fact(
    rid: str, name: str, status: str, seen_at: float, created: str = "2026-12-01T00:00:00Z"
) -> ReplicaFacts:
    record = {"id": rid, "name": name, "status": status, "created_at": created}
    return ReplicaFacts.from_record(record, seen_at=seen_at)


async def test_newer_facts_win_and_older_ones_are_ignored(store: KnowledgeStore) -> None:
    caller = f"c-{uuid.uuid4().hex}"
    await store.remember(caller, [fact("r1", "fix", "active", seen_at=10)])
    await store.remember(caller, [fact("r1", "fix", "sleeping", seen_at=5)])  # seen earlier: ignored
    assert (await store.get(caller, "r1")).status == "active"  # type: ignore[union-attr]
    await store.remember(caller, [fact("r1", "fix-renamed", "sleeping", seen_at=20)])
    latest = await store.get(caller, "r1")
    assert latest is not None
    assert (latest.status, latest.name) == ("sleeping", "fix-renamed")
    assert await store.by_name(caller, "fix") is None  # the index followed the rename
    assert [f.id for f in await store.with_status(caller, ["active"])] == []
    assert [f.id for f in await store.with_status(caller, ["sleeping", "error"])] == ["r1"]


async def test_names_answer_the_newest_created_and_callers_stay_apart(store: KnowledgeStore) -> None:
    caller, other = f"c-{uuid.uuid4().hex}", f"c-{uuid.uuid4().hex}"
    await store.remember(
        caller,
        [
            fact("old", "docs", "sleeping", 1, created="2026-11-01T00:00:00Z"),
            fact("new", "docs", "active", 1, created="2026-12-01T00:00:00Z"),
        ],
    )
    newest = await store.by_name(caller, "docs")
    assert newest is not None
    assert newest.id == "new"
    assert newest.record["created_at"] == "2026-12-01T00:00:00Z"
    assert await store.by_name(other, "docs") is None
    assert sorted(f.id for f in await store.named(caller, "docs")) == ["new", "old"]
    assert await store.named(other, "docs") == []
    assert await store.get(other, "new") is None
    assert set(await store.get_many(caller, ["old", "new", "missing"])) == {"old", "new"}
    await store.forget(caller, "new")
    again = await store.by_name(caller, "docs")
    assert again is not None
    assert again.id == "old"


async def test_the_frontier_remembers_the_head_and_stays_complete(store: KnowledgeStore) -> None:
    caller = f"c-{uuid.uuid4().hex}"
    assert await store.frontier(caller) == (frozenset(), False)
    await store.set_frontier(caller, ["a", "b"], complete=True)
    await store.set_frontier(caller, iter(["c"]), complete=False)  # never clears "complete"
    assert await store.frontier(caller) == (frozenset({"c"}), True)


async def test_chat_looks_are_per_caller_replaced_whole_and_go_with_their_replica(
    store: KnowledgeStore,
) -> None:
    caller, other = f"c-{uuid.uuid4().hex}", f"c-{uuid.uuid4().hex}"
    look = {
        "updated_at": "2026-12-01T00:00:00.000Z",
        "processing": True,
        "question": "Which?",
        "call_id": "t1",
    }
    await store.remember(caller, [fact("r1", "fix", "active", seen_at=1)])
    await store.remember_chat_looks(caller, "r1", {"a": look, "b": {**look, "question": None}})
    assert await store.chat_looks(caller, "r1") == {"a": look, "b": {**look, "question": None}}
    assert await store.chat_looks(other, "r1") == {}
    await store.remember_chat_looks(caller, "r1", {"b": look})  # replaced whole: chat a is gone
    assert await store.chat_looks(caller, "r1") == {"b": look}
    await store.forget(caller, "r1")
    assert await store.chat_looks(caller, "r1") == {}
