"""What delegation remembers per replica is the fleet's, not one instance's (delegation/memory.py in Redis):
a `delegate_task` that landed on A is judged the same on B, and the reason a `replica.error` webhook
brought to A is what a report on B can give."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import anyio
import httpx2

from bench.fleet_procs import Fleet
from replicas_mcp.server.state.redis_state import RedisSharedState

from .helpers import api, call, mcp_at, ok, post_webhook, text_of


async def test_a_named_task_started_on_one_instance_is_judged_the_same_on_another(fleet: Fleet) -> None:
    """The environment a replica was started in is known only to the server that started it (the contract's
    records do not carry it): with the memory shared, B refuses a same-named task in another environment
    exactly as A does, instead of handing over A's replica."""
    mcp1, mcp2, _ = fleet.instances
    name = f"memo-{uuid.uuid4().hex[:8]}"
    async with mcp_at(mcp1.url) as a, mcp_at(mcp2.url) as b:
        environments = [e["id"] for e in (await ok(a, "list_environments", {}))["environments"]]
        assert len(environments) >= 2, environments
        first, second = environments[:2]
        arguments = {"environment_id": first, "task": "Tidy the README", "name": name, "wait_s": 0}
        started = (await ok(a, "delegate_task", arguments))["replicas"][0]
        assert started["created"]
        again = (await ok(b, "delegate_task", arguments))["replicas"][0]  # the same task, on B: joined
        assert (again["replica_id"], again["created"]) == (started["replica_id"], False)
        elsewhere = {**arguments, "environment_id": second}
        on_a, on_b = await call(a, "delegate_task", elsewhere), await call(b, "delegate_task", elsewhere)
    assert on_a.is_error, text_of(on_a)
    assert on_b.is_error, text_of(on_b)
    assert text_of(on_b) == text_of(on_a)
    assert first in text_of(on_b)  # names the environment it was started in
    async with api(fleet) as replicas:
        assert [item.id async for item in replicas.replicas.iter() if item.name == name] == [
            started["replica_id"]
        ]


async def test_a_replica_error_webhook_on_one_instance_is_known_to_every_instance(fleet: Fleet) -> None:
    """The sandbox also fills the failed record's `config.provisioning_error` (which a report prefers), so
    the tool's answer alone cannot show where the webhook's text went: the test reads it from the store
    every instance's report reads, and checks the report on B."""
    mcp1, mcp2, _ = fleet.instances
    async with api(fleet) as replicas:
        environment = (await replicas.environments.list())[0].id
        created = await replicas.replicas.create(
            name=f"doomed-{uuid.uuid4().hex[:8]}", message="Build it", environment_id=environment
        )
    async with httpx2.AsyncClient(base_url=fleet.sandbox_url, timeout=10) as http:
        forced = await http.post(f"/_sandbox/replicas/{created.id}/status", json={"status": "error"})
        assert forced.status_code == 200, forced.text
    reason = "the disk filled up while cloning (told to mcp1)"
    body = json.dumps(
        {
            "id": f"evt-{uuid.uuid4().hex}",
            "type": "replica.error",
            "created_at": datetime.now(UTC).isoformat(),
            "replica": {"id": created.id},
            "data": {"message": reason},
        }
    ).encode()
    answer = await post_webhook(mcp1.url, body)
    assert answer.json()["detail"] == "ok", answer.text
    store = RedisSharedState(fleet.redis_url)
    try:
        with anyio.fail_after(5):
            assert await store.memory.recall("failure", created.id) == reason
    finally:
        await store.redis.aclose()
    async with mcp_at(mcp2.url) as b:
        report = await ok(b, "get_replica_result", {"replica_id": created.id})
    assert report["outcome"] == "failed", report
