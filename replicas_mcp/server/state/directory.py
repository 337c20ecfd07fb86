"""Replica lookups from knowledge: the list endpoint is read only for what the server does not know yet.

How a lookup is answered, cheapest first (`ReplicaDirectory.status`):
1. A replica whose upstream event stream is open and connected for this caller is active: no request
   (the upstream ends the stream when the workspace stops; while the client reconnects it, the workspace
   may be asleep, and a read trusting "active" would wake it under the contract). Except one last seen
   `preparing`: a stream can be opened while the workspace prepares, so only a turn's event on it
   (`StreamHub.booted`: turns run only in an active workspace) or a list read says it is active.
2. A replica that a response showed `preparing` (a create, a wake) within `PREPARING_FRESH_FOR` seconds:
   still served as preparing (no read of a preparing workspace wakes it), unless something since says it
   may have stopped: its upstream stream ended (`stream_ended`: the upstream ends it when the workspace
   stops) or dropped and is reconnecting, or a webhook came (`mark_stale`). Under the contract a read of a
   workspace that went to sleep wakes it, so the window must close the moment it could have. A `fresh`
   lookup inside the window reads the `preparing` list first (it most likely still is: one short read).
3. A known replica: one *awake sweep* (the list filtered on `status=active`, shared by the lookups of the
   caller that overlap it) says whether it is active. If it is not, and it was last seen asleep or
   in error, it still is: only a wake makes a replica active again, and a woken one shows up in the sweep.
   If it was last seen active or preparing, the small filtered lists (`preparing`, `error`, and the
   first page of `archived`, which is ordered by recent activity) say where it went; absent from all
   of them, it went to sleep.
4. An unknown replica: the *incremental index* reads the newest-first list from page 1 only until it
   reaches a replica that headed the list when it was last read (new replicas are always in front), and
   the whole list once per caller (so that older replicas are known too). Not found then: it does not
   exist for this caller.

None of these reads wakes a replica (they are all list reads). The cost of a lookup is therefore bounded by
the number of replicas that are awake, not by the size of the organization. How stale a status can be is
written in docs/performance.md ("How fresh a status is").
"""

from __future__ import annotations

import collections
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

import anyio

from replicas_mcp.client._status_lookup import LIST_PAGE_LIMIT
from replicas_mcp.client.models.replicas import ASLEEP_STATUSES, TERMINAL_STATUSES, ReplicaListItem
from replicas_mcp.server.state.knowledge import KnowledgeStore, ReplicaFacts

if TYPE_CHECKING:
    from replicas_mcp.client.replicas import Replicas
    from replicas_mcp.server.state.streams import StreamHub

__all__ = ["DEFAULT_FRESH_FOR", "RECENT_CALLERS", "ReplicaDirectory"]

V = TypeVar("V")

# Seconds an awake sweep is reused by later lookups. 0: only lookups that overlap share one, so an
# `active` that a read relies on (to go on to the engine, which would wake a sleeping workspace) is never
# older than the call itself.
DEFAULT_FRESH_FOR = 0.0
# Seconds a `preparing` status learned from a response (a create, a wake) is served as is: nothing read
# while a workspace prepares can wake it, and a stream opened on it follows it once it is active.
PREPARING_FRESH_FOR = 5.0
# Where a replica that left `active` can have gone, each list short: (status, read every page?).
_LEFT_ACTIVE = (("preparing", True), ("error", True), ("archived", False))
# Callers whose last awake sweep and index read are remembered (least recently used go first: forgetting
# them costs a request, never correctness).
RECENT_CALLERS = 1024
# Watched replicas confirmed to exist per census (one request each), at most: the census runs once per
# watch poll interval, so its idle cost stays a constant few requests per interval per caller.
CONFIRMS_PER_CENSUS = 2


class _Recent(collections.OrderedDict[str, V]):
    """A per-caller map that keeps the `RECENT_CALLERS` most recently written callers."""

    def put(self, caller: str, value: V) -> None:
        self[caller] = value
        self.move_to_end(caller)
        while len(self) > RECENT_CALLERS:
            self.popitem(last=False)


def item_of(facts: ReplicaFacts) -> ReplicaListItem:
    return ReplicaListItem.model_validate(dict(facts.record))


def _record(item: ReplicaListItem) -> dict[str, object]:
    return item.model_dump(mode="json", exclude_none=True)


@dataclass
class _Census:
    """A caller's walk through the `status=sleeping` list, a page per poll (`ReplicaDirectory.census`)."""

    page: int = 1
    seen: set[str] = field(default_factory=set)  # ids on the pages read in this walk
    # Missing from a whole walk: to confirm, in order.
    unconfirmed: dict[str, None] = field(default_factory=dict)


class ReplicaDirectory:
    """Lookups for every caller of this process, over a `KnowledgeStore`."""

    def __init__(
        self,
        store: KnowledgeStore,
        *,
        fresh_for: float = DEFAULT_FRESH_FOR,
        is_live: Callable[[str, str], bool] = lambda caller, replica_id: False,
        clock: Callable[[], float] = time.time,
        streams: StreamHub | None = None,
    ) -> None:
        """`streams`: the shared upstream streams, which say whether a replica is followed live (else
        `is_live` does) and when a stream drops or ends (closing a `preparing` window)."""
        self.store = store
        self.fresh_for = fresh_for
        self._is_live = streams.has_live if streams is not None else is_live
        self._is_dropped: Callable[[str, str], bool] = (
            streams.dropped if streams is not None else lambda caller, replica_id: False
        )
        self._is_booted: Callable[[str, str], bool] = (
            streams.booted if streams is not None else lambda caller, replica_id: False
        )
        if streams is not None:
            streams.on_end.append(self.stream_ended)
        self._clock = clock
        self._sweeps: _Recent[tuple[float, dict[str, ReplicaListItem]]] = _Recent()  # caller -> (at, active)
        self._preparing: _Recent[tuple[float, dict[str, ReplicaListItem]]] = _Recent()  # the same, preparing
        self._indexed: _Recent[float] = _Recent()  # caller -> when the last index read began
        # (caller, what): one list read at a time; a lock lives while a lookup holds or waits for it.
        self._censuses: _Recent[_Census] = _Recent()  # caller -> its walk through the sleeping list
        self._locks: weakref.WeakValueDictionary[tuple[str, str], anyio.Lock] = weakref.WeakValueDictionary()
        # Called with (caller, replica id) when a replica is seen deleted (a watch of it ends at once).
        self.on_forget: list[Callable[[str, str], None]] = []

    def _lock(self, caller: str, what: str) -> anyio.Lock:
        return self._locks.setdefault((caller, what), anyio.Lock())

    def held(self) -> dict[str, int]:
        """How many entries each per-caller map holds now (diagnostics; each is bounded)."""
        return {
            "sweeps": len(self._sweeps),
            "preparing": len(self._preparing),
            "indexed": len(self._indexed),
            "censuses": len(self._censuses),
            "locks": len(self._locks),
        }

    # --- what responses teach ----------------------------------------------------------------------------

    async def learn(
        self, caller: str, items: Iterable[ReplicaListItem], *, seen_at: float | None = None
    ) -> None:
        """Remember replicas as a response showed them (a list page, a create, a details read)."""
        at = self._clock() if seen_at is None else seen_at
        await self.store.remember(
            caller, [ReplicaFacts.from_record(_record(item), seen_at=at) for item in items]
        )

    async def note_status(self, caller: str, replica_id: str, status: str) -> None:
        """A status seen outside a list (an event stream, a webhook, a send result)."""
        facts = await self.store.get(caller, replica_id)
        if facts is not None:
            await self.store.remember(caller, [facts.with_status(status, seen_at=self._clock())])

    async def mark_stale(self, caller: str, replica_id: str) -> None:
        """The status may have changed (a wake or message sent, a stream ended): ask upstream next time."""
        facts = await self.store.get(caller, replica_id)
        if facts is not None:
            looks = await self.store.chat_looks(caller, replica_id)  # still true of their chat states
            await self.store.forget(caller, replica_id)  # (the only way back to an older `seen_at`)
            await self.store.remember(caller, [facts.with_status(facts.status, seen_at=0.0)])
            if looks:
                await self.store.remember_chat_looks(caller, replica_id, looks)
        self._sweeps.pop(caller, None)

    async def stream_ended(self, caller: str, replica_id: str) -> None:
        """The caller's upstream stream of the replica ended by itself: the workspace may have stopped."""
        await self.mark_stale(caller, replica_id)

    async def forget_looks(self, caller: str, replica_id: str) -> None:
        """The replica's chats were acted on (a message, a wake): what their looks said is out of date."""
        await self.store.remember_chat_looks(caller, replica_id, {})

    async def forget(self, caller: str, replica_id: str) -> None:
        await self.store.forget(caller, replica_id)
        for listener in self.on_forget:
            listener(caller, replica_id)

    # --- lookups -----------------------------------------------------------------------------------------

    async def status(
        self, caller: str, replicas: Replicas, replica_id: str, *, fresh: bool = False
    ) -> ReplicaListItem | None:
        """The replica as the list would show it now (see the module docstring); None if it does not exist.

        `fresh` skips steps 1 and 2 (a live stream, a recent `preparing`): the caller is about to read the
        workspace's details, chats or history, which wake it if it went to sleep meanwhile; and a workspace
        often sleeps right after a turn (`sleep_when_done`) while the end of its stream is in flight."""
        facts = await self.store.get(caller, replica_id)
        if facts is None:
            await self.learn_new(caller, replicas)
            facts = await self.store.get(caller, replica_id)
            return item_of(facts) if facts is not None else None
        booted = self._is_booted(caller, replica_id)  # (its live stream says so: the facts are behind)
        preparing = facts.status == "preparing" and not booted
        if not fresh and self._is_live(caller, replica_id) and not preparing:
            return item_of(facts.with_status("active", seen_at=self._clock()))
        recent = (
            preparing
            and self._clock() - facts.seen_at <= PREPARING_FRESH_FOR
            and not self._is_dropped(caller, replica_id)
        )
        if recent and not fresh:
            return item_of(facts)  # just created or woken: reads of a preparing workspace wake nothing
        if recent:  # asked freshly (has it booted yet?): most likely not, which one short list read says
            found = (await self._listed(caller, replicas, "preparing", self._preparing, 0.0)).get(replica_id)
            if found is not None:
                return found
        awake = await self.awake(caller, replicas, max_age=0.0 if fresh else None)
        if replica_id in awake:
            return awake[replica_id]
        if facts.status in ASLEEP_STATUSES or facts.status in TERMINAL_STATUSES:
            return item_of(facts)  # still asleep (or failed): only a wake changes that, and it shows above
        return await self._where_it_went(
            caller, replicas, facts, read_already="preparing" if recent else None
        )

    async def awake(
        self, caller: str, replicas: Replicas, *, max_age: float | None = None
    ) -> dict[str, ReplicaListItem]:
        """Every active replica of this caller (the list filtered on `status=active`).

        Read again for each call, except that calls arriving while a read is under way share the next one
        (so any number of concurrent lookups cost at most two reads), and a read younger than `max_age`
        (default `fresh_for`) is reused."""
        return await self._listed(
            caller, replicas, "active", self._sweeps, self.fresh_for if max_age is None else max_age
        )

    async def _listed(
        self,
        caller: str,
        replicas: Replicas,
        status: str,
        reads: _Recent[tuple[float, dict[str, ReplicaListItem]]],
        max_age: float,
    ) -> dict[str, ReplicaListItem]:
        """Every replica of this caller in `status` (all pages of the filtered list): calls that overlap a
        read share the next one, and a read younger than `max_age` (kept in `reads`) is reused."""
        asked = time.monotonic()
        async with self._lock(caller, status):
            cached = reads.get(caller)
            if cached is not None and (cached[0] >= asked or asked - cached[0] <= max_age):
                return cached[1]
            started, seen_at = time.monotonic(), self._clock()
            found = {item.id: item async for item in replicas.iter(status=status, page_size=LIST_PAGE_LIMIT)}
            await self.learn(caller, found.values(), seen_at=seen_at)
            reads.put(caller, (started, found))
            return found

    async def _where_it_went(
        self, caller: str, replicas: Replicas, facts: ReplicaFacts, *, read_already: str | None = None
    ) -> ReplicaListItem:
        for status, every_page in _LEFT_ACTIVE:
            if status == read_already:
                continue
            if every_page:
                items = [item async for item in replicas.iter(status=status, page_size=LIST_PAGE_LIMIT)]
            else:
                items = (await replicas.list(status=status, limit=LIST_PAGE_LIMIT)).replicas
            await self.learn(caller, items)
            found = next((item for item in items if item.id == facts.id), None)
            if found is not None:
                return found
        asleep = facts.with_status("sleeping", seen_at=self._clock())
        await self.store.remember(caller, [asleep])
        return item_of(asleep)

    async def find_by_names(
        self, caller: str, replicas: Replicas, names: Iterable[str]
    ) -> dict[str, ReplicaListItem]:
        """The newest replica for each name that exists: the incremental index, then the knowledge."""
        wanted = list(dict.fromkeys(names))
        await self.learn_new(caller, replicas)
        found: dict[str, ReplicaListItem] = {}
        for name in wanted:
            facts = await self.store.by_name(caller, name)
            if facts is not None:
                item = await self.status(caller, replicas, facts.id)
                if item is not None:
                    found[name] = item
        return found

    async def named(self, caller: str, replicas: Replicas, name: str) -> list[ReplicaListItem]:
        """Every replica that has exactly this name, newest first (names are not unique): the incremental
        index, then each one's status as `status` knows it (one may have been deleted since)."""
        await self.learn_new(caller, replicas)
        found: list[ReplicaListItem] = []
        for facts in await self.store.named(caller, name):
            item = await self.status(caller, replicas, facts.id)
            if item is not None and item.name == name:
                found.append(item)
        return sorted(found, key=lambda item: item.created_at or "", reverse=True)

    async def learn_new(self, caller: str, replicas: Replicas) -> None:
        """Read the newest-first list until it reaches a replica that headed it last time (the whole list
        the first time): afterwards every replica this caller can see is known. Calls that overlap a read
        share the next one."""
        asked = time.monotonic()
        async with self._lock(caller, "index"):
            if self._indexed.get(caller, -1.0) >= asked:
                return  # a read that began after this call asked has just finished: it saw the same list
            started = time.monotonic()
            head, complete = await self.store.frontier(caller)
            page, new_head, reached = 1, list[str](), False
            while True:
                now = self._clock()
                result = await replicas.list(page=page, limit=LIST_PAGE_LIMIT)
                await self.learn(caller, result.replicas, seen_at=now)
                ids = [item.id for item in result.replicas]
                if page == 1:
                    new_head = ids
                reached = reached or any(rid in head for rid in ids)
                last_page = page >= result.total_pages or not ids
                if last_page or (reached and complete):
                    break
                page += 1
            await self.store.set_frontier(caller, new_head, complete=last_page)
            self._indexed.put(caller, started)

    async def census(self, caller: str, replicas: Replicas, watched: Iterable[str]) -> list[str]:
        """For the watcher's bulk poll (once per interval): notice watched replicas deleted while asleep.

        Reads one page of the `status=sleeping` list (the walk goes on from page to page, one per call, and
        starts again after the last). A watched replica last seen sleeping and missing from a whole walk
        (deleted, or archived, failed or woken since) is then confirmed with one request that never wakes
        anything (`Replicas.exists`), at most `CONFIRMS_PER_CENSUS` per call, oldest first. A replica that
        is gone is forgotten (its watches end, `on_forget`). Returns the ids found gone."""
        census = self._censuses.get(caller) or _Census()
        self._censuses.put(caller, census)
        wanted = set(watched)
        seen_at = self._clock()
        page = await replicas.list(status="sleeping", page=census.page, limit=LIST_PAGE_LIMIT)
        await self.learn(caller, page.replicas, seen_at=seen_at)
        census.seen.update(item.id for item in page.replicas)
        if census.page >= page.total_pages or not page.replicas:  # a whole walk: who was not in it?
            # Only replicas last seen sleeping are confirmed: the guide says a sleeping workspace answers the
            # canvas read with 409, but neither document says an archived one stays asleep (the contract's
            # detail and history reads wake archived workspaces), so archived ones are never read here.
            known = await self.store.get_many(caller, wanted - census.seen)
            missing = sorted(rid for rid, facts in known.items() if facts.status == "sleeping")
            kept = [rid for rid in census.unconfirmed if rid in missing]
            census.unconfirmed = dict.fromkeys([*kept, *(rid for rid in missing if rid not in kept)])
            census.page, census.seen = 1, set()
        else:
            census.page += 1
        gone = []
        for replica_id in list(census.unconfirmed)[:CONFIRMS_PER_CENSUS]:
            del census.unconfirmed[replica_id]
            if replica_id in wanted and not await replicas.exists(replica_id):
                await self.forget(caller, replica_id)
                gone.append(replica_id)
        return gone
