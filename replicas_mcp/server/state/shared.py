"""What instances of one deployment share, behind small interfaces: in process by default, in Redis with
`--redis-url` (`redis_state.py`), so several instances behind a load balancer act as one server.

- `claims`: set-if-absent with expiry. Webhook event ids (dedupe and replay window), nothing else yet.
- `name_lock`: one holder at a time per (caller, replica name), so `delegate_task` never starts a replica
  twice, whichever instances the racing calls land on.
- `rate`: per-caller tool-call budget per window (`--rate-limit`), counted once for the whole fleet.
- `leases`: per-caller caps on long-lived things (subscriptions, byo-key sessions), counted across the fleet.
- `updates`: "replica X changed" published once and delivered to every instance, each of which notifies
  the subscribers it holds (both protocol eras).
- `knowledge_store()`: the per-caller replica facts of state/knowledge.py (`redis_knowledge.py` in Redis).
- `memory`: what delegation remembers per replica (delegation/memory.py: the task a replica was started
  with, for `delegate_task`'s idempotency; its environment; why it failed, from a wait or the
  `replica.error` webhook), so a call on B answers as it would have on A. In process, the process's own.

Not shared: upstream event streams (state/streams.py). Each instance keeps one per caller and replica it
follows, so a fleet of N holds at most N per replica; waits resume anywhere from their cursors.

Every Redis failure surfaces as `SharedStateUnavailable`, whose text is what a caller is told.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Protocol

import anyio

from replicas_mcp.delegation.memory import PROCESS_MEMORY, Memory
from replicas_mcp.server.state.knowledge import KnowledgeStore, MemoryKnowledge

# (replica id, caller or None for "every caller who can see it") -> notify this instance's subscribers.
Deliver = Callable[[str, str | None], Awaitable[None]]

UNAVAILABLE_MESSAGE = (
    "The server's shared state (Redis) is unreachable, so this call cannot be served safely. Retry in a "
    "few seconds; if it persists, the operator should check Redis (the server's /readyz says the same)."
)


class SharedStateUnavailable(Exception):
    """The shared store cannot be reached; the text is safe to show (no URL, no password)."""

    def __init__(self, message: str = UNAVAILABLE_MESSAGE) -> None:
        super().__init__(message)


class RateLimited(Exception):
    def __init__(self, retry_after: float) -> None:
        super().__init__(f"retry after {retry_after:.0f} s")
        self.retry_after = retry_after


class Claims(Protocol):
    async def claim(self, key: str, ttl: float) -> bool:
        """True if `key` was free (it is now taken for `ttl` seconds); False if someone holds it."""

    async def forget(self, key: str) -> None: ...


class NameLocks(Protocol):
    def hold(self, key: str) -> AbstractAsyncContextManager[None]:
        """Exclusive while held, across every instance sharing the store."""


class RateLimiter(Protocol):
    async def hit(self, caller: str, limit: int, window: float) -> None:
        """Count one call; raise `RateLimited` past `limit` calls in the current window."""


class Leases(Protocol):
    async def acquire(self, kind: str, caller: str, holder: str, limit: int, ttl: float) -> bool:
        """Hold one of `caller`'s `limit` slots of `kind` (renewable: acquiring again refreshes it)."""

    async def release(self, kind: str, caller: str, holder: str) -> None: ...


class Updates(Protocol):
    async def publish(self, replica_id: str, caller: str | None) -> None:
        """Tell every instance (this one included) that the replica changed."""

    def delivering(self, deliver: Deliver) -> AbstractAsyncContextManager[None]:
        """While open, published updates reach `deliver` on this instance."""


# --- in process ---------------------------------------------------------------------------------------


class LocalClaims:
    """Claims in a bounded ordered dict (oldest forgotten first past `limit`); expiry checked on read."""

    def __init__(self, limit: int = 10_000, clock: Callable[[], float] = time.monotonic) -> None:
        self._until: OrderedDict[str, float] = OrderedDict()
        self._limit = limit
        self._clock = clock

    def __len__(self) -> int:
        return len(self._until)

    async def claim(self, key: str, ttl: float) -> bool:
        now = self._clock()
        if self._until.get(key, 0.0) > now:
            return False
        self._until[key] = now + ttl
        self._until.move_to_end(key)
        while len(self._until) > self._limit:
            self._until.popitem(last=False)
        return True

    async def forget(self, key: str) -> None:
        self._until.pop(key, None)


class LocalNameLocks:
    """One lock per key while someone holds or waits for it; forgotten when nobody does."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[anyio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (anyio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


RATE_CALLERS = 1024  # past this many callers, those whose window has passed are dropped


class LocalRateLimiter:
    """Fixed windows: at most `limit` calls per caller in each `window`-second slot of the clock."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._counts: dict[str, tuple[int, int]] = {}  # caller -> (window index, calls in it)
        self._clock = clock
        self._pruned = -1  # the window in which past callers were last dropped

    @property
    def callers(self) -> int:
        """Callers counted now (bounded: see `RATE_CALLERS`)."""
        return len(self._counts)

    async def hit(self, caller: str, limit: int, window: float) -> None:
        now = self._clock()
        slot = int(now // window)
        current, count = self._counts.get(caller, (slot, 0))
        count = count + 1 if current == slot else 1
        self._counts[caller] = (slot, count)
        if len(self._counts) > RATE_CALLERS and self._pruned != slot:  # at most once per window
            self._pruned = slot  # callers of past windows count nothing any more: drop them
            self._counts = {c: entry for c, entry in self._counts.items() if entry[0] == slot}
        if count > limit:
            raise RateLimited((slot + 1) * window - now)


class LocalLeases:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._held: dict[tuple[str, str], dict[str, float]] = {}
        self._clock = clock

    async def acquire(self, kind: str, caller: str, holder: str, limit: int, ttl: float) -> bool:
        now = self._clock()
        held = self._held.setdefault((kind, caller), {})
        for stale in [h for h, until in held.items() if until <= now]:
            del held[stale]
        if holder not in held and len(held) >= limit:
            return False
        held[holder] = now + ttl
        return True

    async def release(self, kind: str, caller: str, holder: str) -> None:
        held = self._held.get((kind, caller), {})
        held.pop(holder, None)
        if not held:
            self._held.pop((kind, caller), None)


class LocalUpdates:
    """One process: publishing is delivering."""

    def __init__(self) -> None:
        self._deliver: Deliver | None = None

    async def publish(self, replica_id: str, caller: str | None) -> None:
        if self._deliver is not None:
            await self._deliver(replica_id, caller)

    @asynccontextmanager
    async def delivering(self, deliver: Deliver) -> AsyncIterator[None]:
        self._deliver = deliver
        try:
            yield
        finally:
            self._deliver = None


@dataclass
class SharedState:
    """The shared pieces of one server process, and whether the store behind them is reachable."""

    claims: Claims = field(default_factory=LocalClaims)
    name_locks: NameLocks = field(default_factory=LocalNameLocks)
    rate: RateLimiter = field(default_factory=LocalRateLimiter)
    leases: Leases = field(default_factory=LocalLeases)
    updates: Updates = field(default_factory=LocalUpdates)
    memory: Memory = field(default_factory=lambda: PROCESS_MEMORY)
    kind: str = "in-process"

    @property
    def healthy(self) -> bool:
        """Last known reachability (in process: always)."""
        return True

    async def check(self) -> bool:
        """Reachable right now (one round trip for a remote store)."""
        return True

    def knowledge_store(self) -> KnowledgeStore:
        """Where replica facts are kept (state/knowledge.py): this process's memory, or the shared store."""
        return MemoryKnowledge()

    def running(self, deliver: Deliver) -> AbstractAsyncContextManager[None]:
        """For the server's lifetime: deliver published updates here (and, remotely, keep watch on the
        connection); closes what it opened on the way out."""
        return self.updates.delivering(deliver)
