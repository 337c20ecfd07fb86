"""What the server knows about each caller's replicas, so that lookups read memory instead of the list.

The list endpoint is newest-first and pages of at most 100: finding one replica by scanning it costs a
request per 100 replicas in the organization. Everything the server sees of a replica (a list page, an
event stream, a webhook, a create, a details read) is written here instead, per caller (in byo-key mode a
caller sees only what their own key has shown them), and read back by `ReplicaDirectory`.

`KnowledgeStore` is the interface; `MemoryKnowledge` the in-process implementation. A shared store (Redis,
see `redis*.py`) takes its place when several instances serve one team; it must honour the same contracts.
Records are plain JSON-able mappings (the list endpoint's item), so any store can hold them.

Beside the facts, each replica's *chat looks* (`server.state.looks`: per chat, the pending question and
who wrote last, read from its history tail at the chat's `updated_at`), so that a detail view reads only
the tails of chats that changed. They go with the replica (`forget`) and are bounded per caller.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

__all__ = [
    "LOOKED_CHATS",
    "LOOKED_REPLICAS",
    "ChatLookRecord",
    "KnowledgeStore",
    "MemoryKnowledge",
    "ReplicaFacts",
]

ChatLookRecord = Mapping[str, Any]  # one chat's look as JSON (its shape is `server.state.looks`'s)
LOOKED_REPLICAS = 256  # replicas per caller whose chat looks are kept (least recently written go first)
LOOKED_CHATS = 32  # chats per replica whose looks are kept
KNOWN_CALLERS = 1024  # callers whose knowledge this process keeps (the least recently used go first)


@dataclass(frozen=True)
class ReplicaFacts:
    """One replica as last seen by one caller.

    `record` is the list endpoint's item (id, name, status, created_at, pull_requests, ...) as JSON, with
    `status` kept current; `seen_at` (wall-clock seconds) is when `status` was last confirmed by upstream
    (a list page, an event, a webhook, a response); `active_chats` is how many chats were processing at
    that moment, None when not known.
    """

    id: str
    name: str
    status: str
    seen_at: float
    record: Mapping[str, Any] = field(default_factory=dict)
    active_chats: int | None = None

    @classmethod
    def from_record(
        cls, record: Mapping[str, Any], *, seen_at: float | None = None, active_chats: int | None = None
    ) -> ReplicaFacts:
        return cls(
            id=str(record["id"]),
            name=str(record.get("name") or ""),
            status=str(record.get("status") or "unknown"),
            seen_at=time.time() if seen_at is None else seen_at,
            record=dict(record),
            active_chats=active_chats,
        )

    def with_status(self, status: str, *, seen_at: float, active_chats: int | None = None) -> ReplicaFacts:
        chats = active_chats if active_chats is not None else (self.active_chats if status == "active" else 0)
        return replace(
            self, status=status, seen_at=seen_at, record={**self.record, "status": status}, active_chats=chats
        )


class KnowledgeStore(Protocol):
    """Per-caller replica facts and a name index. Every method is safe to call concurrently.

    Contracts (an implementation backed by a shared store must keep them):
    - Callers never see each other's facts: every key includes `caller`.
    - `remember` never replaces facts with older ones: a fact whose `seen_at` is older than the stored
      one is ignored (two instances writing what they saw at different moments converge on the newest).
    - `by_name` answers from the facts remembered: the newest-created replica (`record["created_at"]`,
      ISO-8601, compared as strings) among those with that exact name; forgotten replicas never answer.
    - `frontier` / `set_frontier` hold the incremental index's progress (see `ReplicaDirectory`): the
      ids of the newest replicas known when the list was last read from its start, and whether the list
      has ever been read to its end. Both are advisory: losing them costs requests, never correctness.
    - Nothing here expires by itself except by `forget`; an implementation may evict whole callers that
      have been idle (their facts are re-learned from the list on the next lookup).
    - Chat looks (`chat_looks` / `remember_chat_looks`) are advisory too: at most `LOOKED_CHATS` per replica
      and `LOOKED_REPLICAS` replicas per caller (the least recently written go first); `forget` drops the
      replica's. Losing them costs a history read per chat, never correctness (each carries the chat
      state it was read at, and is used only while the chat is in that state).
    """

    async def remember(self, caller: str, facts: Iterable[ReplicaFacts]) -> None:
        """Store these facts (each replacing an older one of the same replica; older ones are dropped)."""
        ...

    async def get(self, caller: str, replica_id: str) -> ReplicaFacts | None:
        """The facts last remembered for this replica, or None if it is not known (or was forgotten)."""
        ...

    async def get_many(self, caller: str, replica_ids: Iterable[str]) -> dict[str, ReplicaFacts]:
        """`get` for several replicas at once (one round trip in a shared store): only the known ones."""
        ...

    async def by_name(self, caller: str, name: str) -> ReplicaFacts | None:
        """The newest known replica with exactly this name, or None."""
        ...

    async def named(self, caller: str, name: str) -> list[ReplicaFacts]:
        """Every known replica with exactly this name (names are not unique), in any order."""
        ...

    async def with_status(self, caller: str, statuses: Iterable[str]) -> list[ReplicaFacts]:
        """Every known replica whose last known status is one of `statuses` (any order)."""
        ...

    async def forget(self, caller: str, replica_id: str) -> None:
        """Drop the replica (deleted, or no longer visible to this caller); a no-op if unknown."""
        ...

    async def chat_looks(self, caller: str, replica_id: str) -> dict[str, ChatLookRecord]:
        """Chat id -> the look last remembered for that chat of this replica (empty when none)."""
        ...

    async def remember_chat_looks(
        self, caller: str, replica_id: str, looks: Mapping[str, ChatLookRecord]
    ) -> None:
        """Replace the replica's chat looks with these (chats not in `looks` are dropped)."""
        ...

    async def frontier(self, caller: str) -> tuple[frozenset[str], bool]:
        """(ids at the head of the list when it was last read from page 1, whether it was read to its end)."""
        ...

    async def set_frontier(self, caller: str, head_ids: Iterable[str], *, complete: bool) -> None:
        """Record the list head just read; `complete` once the list has been read to its last page (it
        stays true afterwards: passing False never clears it)."""
        ...


@dataclass
class _CallerFacts:
    by_id: dict[str, ReplicaFacts] = field(default_factory=dict)
    by_name: dict[str, set[str]] = field(default_factory=dict)
    head: frozenset[str] = frozenset()
    complete: bool = False
    looks: collections.OrderedDict[str, dict[str, ChatLookRecord]] = field(
        default_factory=collections.OrderedDict
    )  # replica id -> chat id -> look, least recently written first


class MemoryKnowledge:
    """`KnowledgeStore` in this process's memory (the default). No awaits inside: each call is atomic."""

    def __init__(self, max_callers: int = KNOWN_CALLERS) -> None:
        # Least recently written first: past `max_callers`, whole callers are evicted (the contract allows
        # it; their replicas are learned again from the list on their next lookup).
        self._callers: collections.OrderedDict[str, _CallerFacts] = collections.OrderedDict()
        self._max_callers = max_callers

    @property
    def callers(self) -> int:
        """Callers known now (at most `max_callers`)."""
        return len(self._callers)

    def _of(self, caller: str) -> _CallerFacts:
        known = self._callers.get(caller)
        if known is None:
            known = self._callers[caller] = _CallerFacts()
            while len(self._callers) > self._max_callers:
                self._callers.popitem(last=False)
        self._callers.move_to_end(caller)
        return known

    async def remember(self, caller: str, facts: Iterable[ReplicaFacts]) -> None:
        known = self._of(caller)
        for fact in facts:
            old = known.by_id.get(fact.id)
            if old is not None and old.seen_at > fact.seen_at:
                continue
            if old is not None and old.name != fact.name:
                self._unindex(known, old)
            known.by_id[fact.id] = fact
            known.by_name.setdefault(fact.name, set()).add(fact.id)

    async def get(self, caller: str, replica_id: str) -> ReplicaFacts | None:
        known = self._callers.get(caller)
        return known.by_id.get(replica_id) if known else None

    async def get_many(self, caller: str, replica_ids: Iterable[str]) -> dict[str, ReplicaFacts]:
        known = self._callers.get(caller)
        if known is None:
            return {}
        return {rid: fact for rid in replica_ids if (fact := known.by_id.get(rid)) is not None}

    async def by_name(self, caller: str, name: str) -> ReplicaFacts | None:
        known = self._callers.get(caller)
        if known is None:
            return None
        candidates = await self.named(caller, name)
        return max(candidates, key=lambda fact: str(fact.record.get("created_at") or ""), default=None)

    async def named(self, caller: str, name: str) -> list[ReplicaFacts]:
        known = self._callers.get(caller)
        if known is None:
            return []
        return [known.by_id[rid] for rid in known.by_name.get(name, ()) if rid in known.by_id]

    async def with_status(self, caller: str, statuses: Iterable[str]) -> list[ReplicaFacts]:
        known = self._callers.get(caller)
        wanted = frozenset(statuses)
        return [fact for fact in known.by_id.values() if fact.status in wanted] if known else []

    async def forget(self, caller: str, replica_id: str) -> None:
        known = self._callers.get(caller)
        if known is None:
            return
        old = known.by_id.pop(replica_id, None)
        known.looks.pop(replica_id, None)
        if old is not None:
            self._unindex(known, old)

    async def chat_looks(self, caller: str, replica_id: str) -> dict[str, ChatLookRecord]:
        known = self._callers.get(caller)
        return dict(known.looks.get(replica_id, {})) if known else {}

    async def remember_chat_looks(
        self, caller: str, replica_id: str, looks: Mapping[str, ChatLookRecord]
    ) -> None:
        known = self._of(caller)
        known.looks.pop(replica_id, None)
        if looks:
            known.looks[replica_id] = dict(list(looks.items())[:LOOKED_CHATS])
        while len(known.looks) > LOOKED_REPLICAS:
            known.looks.popitem(last=False)

    async def frontier(self, caller: str) -> tuple[frozenset[str], bool]:
        known = self._callers.get(caller)
        return (known.head, known.complete) if known else (frozenset(), False)

    async def set_frontier(self, caller: str, head_ids: Iterable[str], *, complete: bool) -> None:
        known = self._of(caller)
        known.head = frozenset(head_ids)
        known.complete = known.complete or complete

    @staticmethod
    def _unindex(known: _CallerFacts, fact: ReplicaFacts) -> None:
        ids = known.by_name.get(fact.name)
        if ids is not None:
            ids.discard(fact.id)
            if not ids:
                del known.by_name[fact.name]
