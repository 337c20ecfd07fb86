"""The client every tool and resource uses: the caller's `ReplicasClient`, taught by what it sees.

`KnowingClient` wraps the caller's client (`AppState.client_for_caller`: in byo-key mode a view bound to the
request's key) so that
code written against a plain `ReplicasClient` gets knowledge for free:
- `replicas.status` / `find_by_name(s)` answer from the `ReplicaDirectory` (no list scans);
- list pages, creates, details reads, deletes, wakes and messages teach (or correct) the knowledge;
- `shared_stream` (used by waits, see `delegation.waiting.open_events`) reads the caller's one shared
  upstream stream of the replica instead of opening its own.

Every group other than `replicas` is the wrapped client's own, assigned one by one (no attribute magic).
"""

from __future__ import annotations

import builtins
import collections
import contextlib
import functools
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Iterable
from typing import TYPE_CHECKING, Any, TypeVar, cast

import anyio

from replicas_mcp.client import ReplicasClient
from replicas_mcp.client.canvas import Canvas
from replicas_mcp.client.chats import Chats
from replicas_mcp.client.errors import NotFoundError
from replicas_mcp.client.events import Events
from replicas_mcp.client.history import History
from replicas_mcp.client.hooks import Hooks
from replicas_mcp.client.queue import Queue
from replicas_mcp.client.replicas import Replicas
from replicas_mcp.client.repositories import Repositories
from replicas_mcp.delegation.feeds import OwnFeed
from replicas_mcp.server.state.directory import ReplicaDirectory

if TYPE_CHECKING:
    from replicas_mcp.client.automations import Automations
    from replicas_mcp.client.environments import Environments
    from replicas_mcp.client.models import ReplicaDetails, ReplicaListItem, ReplicaPage, SendMessageResult
    from replicas_mcp.delegation.feeds import EventFeed
    from replicas_mcp.server.state.streams import StreamHub

__all__ = ["KnowingClient", "KnowingReplicas", "unless_changed"]

T = TypeVar("T")


class KnowingReplicas(Replicas):
    """`client.replicas` that reads and feeds the caller's knowledge (see the module docstring)."""

    def __init__(
        self,
        inner: Replicas,
        directory: ReplicaDirectory,
        caller: str,
        on_write: Callable[[str], None] = lambda replica_id: None,
    ) -> None:
        super().__init__(inner._http)
        self._inner = inner
        self._directory = directory
        self._caller = caller
        self._on_write = on_write  # a replica was acted on: what was remembered of it is out of date

    async def list(
        self,
        *,
        page: int = 1,
        limit: int = 20,
        status: str | None = None,
        source: str | None = None,
        user_id: str | None = None,
    ) -> ReplicaPage:
        result = await self._inner.list(page=page, limit=limit, status=status, source=source, user_id=user_id)
        await self._directory.learn(self._caller, result.replicas)
        return result

    async def find_by_names(self, names: Iterable[str]) -> dict[str, ReplicaListItem]:
        return await self._directory.find_by_names(self._caller, self._inner, names)

    async def named(self, name: str) -> builtins.list[ReplicaListItem]:  # `list` is the method above
        """Every replica with exactly this name, newest first (see `ReplicaDirectory.named`)."""
        return await self._directory.named(self._caller, self._inner, name)

    async def status(self, replica_id: str, *, fresh: bool = False) -> ReplicaListItem | None:
        return await self._directory.status(self._caller, self._inner, replica_id, fresh=fresh)

    async def create(self, **fields: Any) -> ReplicaListItem:
        created = await self._inner.create(**fields)
        await self._directory.learn(self._caller, [created])
        return created

    async def get(self, replica_id: str, *, include: Iterable[str] = ()) -> ReplicaDetails:
        try:
            details = await self._inner.get(replica_id, include=include)
        except NotFoundError:
            await self._directory.forget(self._caller, replica_id)
            raise
        await self._directory.learn(self._caller, [details])
        return details

    async def exists(self, replica_id: str) -> bool:
        found = await self._inner.exists(replica_id)
        if not found:
            await self._directory.forget(self._caller, replica_id)
        return found

    async def delete(self, replica_id: str) -> None:
        self._on_write(replica_id)
        await self._inner.delete(replica_id)
        await self._directory.forget(self._caller, replica_id)

    async def wake(self, replica_id: str) -> dict[str, Any]:
        self._on_write(replica_id)
        await self._directory.forget_looks(self._caller, replica_id)
        woke: dict[str, Any] = {}
        try:
            woke = await self._inner.wake(replica_id)
            return woke
        finally:
            await self._waking(replica_id, bool(woke.get("waking")))

    async def send_message(self, replica_id: str, message: str, **options: Any) -> SendMessageResult:
        self._on_write(replica_id)
        await self._directory.forget_looks(self._caller, replica_id)
        try:
            sent = await self._inner.send_message(replica_id, message, **options)
        except NotFoundError:
            await self._directory.forget(self._caller, replica_id)
            raise
        if sent.status == "waking":
            await self._waking(replica_id, True)
        else:
            await self._directory.note_status(self._caller, replica_id, "active")
        return sent

    async def _waking(self, replica_id: str, waking: bool) -> None:
        """After a wake or a message: a workspace that is waking is `preparing` (as upstream lists it), not
        the `sleeping` remembered from before, which a wait would take for "nothing left to do"."""
        if waking:
            await self._directory.note_status(self._caller, replica_id, "preparing")
        else:
            await self._directory.mark_stale(self._caller, replica_id)


class KnowingClient(ReplicasClient):
    """A `ReplicasClient` view, for one caller, whose `replicas` group knows (see the module docstring).

    Every other group is the base client's own, named one by one below (typed as `ReplicasClient` types
    them, so every call through this view is checked like a call through the base). The configuration
    groups stay lazy: they load on first use, as the base's do.
    """

    def __init__(
        self,
        base: ReplicasClient,
        directory: ReplicaDirectory,
        streams: StreamHub | None,
        *,
        caller: str,
        memo: Memo | None = None,
    ) -> None:  # no super().__init__: the groups are the base's, not new ones
        self._base = base
        self._http = base._http
        self.directory = directory
        self.streams = streams
        self._caller = caller
        self.memo: Memo = Memo() if memo is None else memo  # see unless_changed and recently
        self.replicas: Replicas = KnowingReplicas(base.replicas, directory, caller, self.forget_memo)
        self.chats: Chats = base.chats
        self.queue: Queue = base.queue
        self.history: History = base.history
        self.canvas: Canvas = base.canvas
        self.hooks: Hooks = base.hooks
        self.events: Events = base.events
        self.repositories: Repositories = base.repositories

    @functools.cached_property
    def environments(self) -> Environments:
        return self._base.environments

    @functools.cached_property
    def automations(self) -> Automations:
        return self._base.automations

    @property
    def base(self) -> ReplicasClient:
        """The caller's client this view wraps (for what must bypass the knowledge: a stream of its own)."""
        return self._base

    @property
    def caller(self) -> str:
        return self._caller

    def forget_memo(self, replica_id: str) -> None:
        """Drop what `unless_changed` remembers of the replica for this caller (it was just acted on)."""
        caller = self.caller
        for slot in [slot for slot in self.memo if slot[0] == caller and slot[1] == replica_id]:
            del self.memo[slot]

    def bound(self) -> KnowingClient:
        """This view, to keep beyond the request: it is fixed to its caller and key already."""
        return self

    async def recently(
        self, replica_id: str, key: Hashable, max_age: float, build: Callable[[], Awaitable[T]]
    ) -> T:
        """What `build()` returned for this caller, replica and `key`: a build that began after this call
        (calls that overlap share the next one), or at most `max_age` seconds before it; else a new one.
        Acting on the replica through this server forgets it (`forget_memo`). Builds run at most
        `BACKGROUND_READS` at a time per process, so a crowd of waits never fills the request pool ahead of
        an interactive call (see `delegation.feeds.shared_read`)."""
        asked = time.monotonic()
        slot = (self.caller, replica_id, ("recently", key))
        async with self.memo.locks.setdefault(slot, anyio.Lock()):
            cached = self.memo.get(slot)
            if cached is not None and cast("float", cached[0]) >= asked - max_age:
                return cast("T", cached[1])
            async with self.memo.background:
                started = time.monotonic()
                result = await build()
            self.memo[slot] = (started, result)
            while len(self.memo) > MEMO_ENTRIES:
                self.memo.popitem(last=False)
            return result

    def has_live_stream(self, replica_id: str) -> bool:
        return self.streams is not None and self.streams.has_live(self.caller, replica_id)

    @contextlib.asynccontextmanager
    async def shared_stream(self, replica_id: str, *, after: str | None) -> AsyncIterator[EventFeed]:
        """The replica's events after `after`, read from the caller's shared upstream stream."""
        if self.streams is None:
            async with self._base.events.marked_stream(replica_id, last_event_id=after) as events:
                yield OwnFeed(events, resumed=False)  # replay after `Last-Event-ID` is not promised
            return
        async with self.streams.subscribe(self.caller, replica_id, self._base, after=after) as feed:
            yield feed


async def unless_changed(
    client: ReplicasClient, replica_id: str, key: Hashable, build: Callable[[], Awaitable[T]]
) -> T:
    """`build()`, or what it returned last time for this replica and `key` when nothing happened to the
    replica since (the caller's shared upstream stream of it stayed live and carried no event). So a report
    that a call just returned is not read again (five requests) by the next call that asks for it."""
    if not isinstance(client, KnowingClient) or client.streams is None:
        return await build()
    caller = client.caller
    version = client.streams.version(caller, replica_id)
    if version is None:
        return await build()
    memo = client.memo
    slot = (caller, replica_id, key)
    cached = memo.get(slot)
    if cached is not None and cached[0] == version:
        memo.move_to_end(slot)
        return cast("T", cached[1])
    result = await build()
    memo[slot] = (version, result)  # the version from before the build: an event meanwhile voids it
    while len(memo) > MEMO_ENTRIES:
        memo.popitem(last=False)
    return result


MEMO_ENTRIES = 512
# Reads made for waits (chats snapshots) in flight at once per process: well under the request pool (100),
# so the calls a person or model is waiting on always find a free connection.
BACKGROUND_READS = 32


class Memo(collections.OrderedDict[tuple[str, str, Hashable], tuple[object, object]]):
    """What `unless_changed` and `KnowingClient.recently` remember, per (caller, replica id, key), newest
    last and bounded; `locks` let calls that overlap share one build (weak: gone once nobody waits);
    `background` bounds the builds in flight."""

    def __init__(self) -> None:
        super().__init__()
        self.locks: weakref.WeakValueDictionary[tuple[str, str, Hashable], anyio.Lock] = (
            weakref.WeakValueDictionary()
        )
        self.background = anyio.CapacityLimiter(BACKGROUND_READS)
