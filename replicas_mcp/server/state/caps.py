"""A per-caller cap on subscriptions (`--max-subscriptions`), counted across every instance of a fleet.

Each subscribed URI holds a lease in the shared store (`Leases`: in process, or a sorted set per caller in
Redis). A lease lives `LEASE_TTL` seconds and is renewed every third of that while its subscription is
alive (a listen stream still open, a legacy session still subscribed), so the subscriptions of an
instance that died stop counting within `LEASE_TTL`, and a client that resumes elsewhere gets its slots
back. 0 means no cap (nothing is counted). The byo-key session cap (`--max-sessions`) and the listen-stream
cap (`--max-listen-streams`, one lease per open stream, kind `LISTEN_KIND`) lease the same way, each under
its own `kind` (server/http_guards.py, server/app.py).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Sequence

import anyio

from replicas_mcp.server.state.shared import Leases, SharedStateUnavailable

logger = logging.getLogger(__name__)

KIND = "subscriptions"
LISTEN_KIND = "listen-streams"  # `--max-listen-streams`: one lease per open 2026-era listen stream
LEASE_TTL = 60.0
RELEASE_BOUND = 2.0  # seconds a session's end may spend giving its leases back


class SubscriptionCaps:
    def __init__(self, leases: Leases, limit: int, *, ttl: float = LEASE_TTL, kind: str = KIND) -> None:
        self.limit = limit
        self.kind = kind
        self._leases = leases
        self._ttl = ttl
        self._instance = secrets.token_hex(6)  # holders are unique across the fleet
        self._held: dict[str, tuple[str, Callable[[], bool]]] = {}  # holder -> (caller, still alive?)

    def holder(self, *parts: str) -> str:
        return ":".join([self._instance, *parts])

    def refusal(self) -> str:
        if self.kind == LISTEN_KIND:
            return (
                f"Too many listen streams for this caller: the server allows {self.limit} at once. Close a "
                "subscriptions/listen stream you no longer read (one stream can carry every resource URI you "
                "watch), then listen again."
            )
        return (
            f"Too many subscriptions for this caller: the server allows {self.limit} at once. Unsubscribe "
            "from resources you no longer watch (or close listen streams), then subscribe again."
        )

    async def take(self, caller: str, holders: Sequence[str], alive: Callable[[], bool]) -> bool:
        """Hold one slot per holder, all or none; False when the caller's cap would be passed."""
        if not self.limit:
            return True
        taken: list[str] = []
        for holder in holders:
            if not await self._leases.acquire(self.kind, caller, holder, self.limit, self._ttl):
                await self.give_back(caller, taken)
                return False
            taken.append(holder)
            self._held[holder] = (caller, alive)
        return True

    async def give_back(self, caller: str, holders: Sequence[str]) -> None:
        if not self.limit:
            return
        for holder in holders:
            self._held.pop(holder, None)  # not renewed any more, whatever happens below
        # Shielded so a cancelled session still gives its slots back, but bounded: while the store is down
        # each release would wait out its own timeout, and a lease not released expires within LEASE_TTL.
        with anyio.CancelScope(shield=True), anyio.move_on_after(RELEASE_BOUND):
            for holder in holders:
                try:
                    await self._leases.release(self.kind, caller, holder)
                except SharedStateUnavailable:
                    logger.info("subscription leases could not be released; they expire by themselves")
                    return

    async def renew_forever(self) -> None:
        """Keep the leases of live subscriptions; let go of those whose subscription ended unseen."""
        if not self.limit:
            return
        while True:
            await anyio.sleep(self._ttl / 3)
            for holder, (caller, alive) in list(self._held.items()):
                try:
                    if alive():
                        await self._leases.acquire(self.kind, caller, holder, self.limit, self._ttl)
                    else:
                        await self.give_back(caller, [holder])
                except SharedStateUnavailable:
                    logger.warning("subscription leases could not be renewed (shared store unreachable)")
                    break
