"""Every per-caller map of the shared state stays bounded however many byo-key callers come and go.

10,000 distinct callers each look a replica up (the directory's awake sweep and index read, their locks,
the caller's knowledge), run a wait (the per-caller wait slots) and count against the rate limit. The
organization is an empty list served without a network (what is measured is what the server keeps, not
what upstream answers).
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from typing import Any

from replicas_mcp.client import ReplicasClient
from replicas_mcp.client.models import ReplicaListItem, ReplicaPage
from replicas_mcp.client.replicas import Replicas
from replicas_mcp.server.state.directory import RECENT_CALLERS, ReplicaDirectory
from replicas_mcp.server.state.gate import WaitSlots
from replicas_mcp.server.state.knowledge import KNOWN_CALLERS, MemoryKnowledge, ReplicaFacts
from replicas_mcp.server.state.shared import RATE_CALLERS, LocalRateLimiter

CALLERS = 10_000


class _EmptyOrganization(Replicas):
    """The list endpoint of an organization with no replicas."""

    async def list(self, **_: Any) -> ReplicaPage:
        return ReplicaPage(replicas=[], total=0, page=1, limit=100, total_pages=1)

    async def _nothing(self) -> AsyncIterator[ReplicaListItem]:
        nothing: tuple[ReplicaListItem, ...] = ()
        for item in nothing:
            yield item

    def iter(self, **_: Any) -> AsyncIterator[ReplicaListItem]:
        return self._nothing()


async def test_ten_thousand_callers_leave_every_per_caller_map_bounded() -> None:
    async with ReplicasClient(api_key="rk-test", base_url="http://127.0.0.1:9") as client:
        org = _EmptyOrganization(client._http)
        store = MemoryKnowledge()
        directory = ReplicaDirectory(store)
        slots = WaitSlots(limit=50)
        now = [0.0]
        rate = LocalRateLimiter(clock=lambda: now[0])  # one rate window for all of them
        record = {"id": "r1", "name": "fix", "status": "sleeping", "created_at": "2026-12-01T00:00:00Z"}
        for index in range(CALLERS):
            caller = f"byo-{index:05d}"
            await store.remember(caller, [ReplicaFacts.from_record(record)])
            assert (await directory.status(caller, org, "r1")) is not None  # known: swept, asleep
            assert await directory.status(caller, org, "unknown") is None  # the index is read
            slots.take(caller)
            slots.give_back(caller)
            await rate.hit(caller, limit=10, window=60.0)
        gc.collect()
        held = directory.held()
        assert held["locks"] == 0  # nobody holds or waits for one
        assert held["sweeps"] <= RECENT_CALLERS
        assert held["indexed"] <= RECENT_CALLERS
        assert store.callers <= KNOWN_CALLERS
        assert await store.get(f"byo-{CALLERS - 1:05d}", "r1") is not None  # the recent ones are kept
        assert slots.in_flight == 0

        assert rate.callers == CALLERS  # all in the current window: each still counts
        now[0] = 120.0  # the window passes: its callers count nothing any more and are dropped
        await rate.hit("one-more", limit=10, window=60.0)
        assert rate.callers <= RATE_CALLERS
