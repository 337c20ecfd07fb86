"""A session's end gives its subscription leases back within a short bound, even while the shared store
is down (each release would otherwise wait out its own timeout): leases not released expire by themselves."""

from __future__ import annotations

import anyio

from replicas_mcp.server.state.caps import RELEASE_BOUND, SubscriptionCaps
from replicas_mcp.server.state.shared import SharedStateUnavailable


class _DownStore:
    """Leases whose store answers acquire, then goes down: every release hangs for its timeout, then fails."""

    def __init__(self) -> None:
        self.releases = 0

    async def acquire(self, kind: str, caller: str, holder: str, limit: int, ttl: float) -> bool:
        return True

    async def release(self, kind: str, caller: str, holder: str) -> None:
        self.releases += 1
        await anyio.sleep(1.0)  # a store's connect timeout
        raise SharedStateUnavailable("redis is down")


async def test_giving_back_200_leases_while_the_store_is_down_ends_within_the_bound() -> None:
    store = _DownStore()
    caps = SubscriptionCaps(store, limit=500)
    holders = [caps.holder("session", str(n)) for n in range(200)]
    assert await caps.take("caller", holders, alive=lambda: True)
    with anyio.CancelScope() as scope:
        scope.cancel()  # the session is already being torn down: the give-back is shielded
        await caps.give_back("caller", holders)
    assert store.releases == 1  # the first failure says the store is down: the rest expire by themselves


class _HangingStore(_DownStore):
    async def release(self, kind: str, caller: str, holder: str) -> None:
        self.releases += 1
        await anyio.sleep_forever()  # a store that accepted the connection and never answers


async def test_a_store_that_never_answers_does_not_hold_a_sessions_end_forever() -> None:
    store = _HangingStore()
    caps = SubscriptionCaps(store, limit=500)
    holders = [caps.holder("session", str(n)) for n in range(3)]
    assert await caps.take("caller", holders, alive=lambda: True)
    with anyio.fail_after(RELEASE_BOUND * 10):  # a hang guard, far above the bound
        await caps.give_back("caller", holders)
    assert store.releases == 1
