"""Live status: one upstream watch per (caller, watched replica), fanned out to that caller's subscribers.

A subscriber is a 2026-07-28 `subscriptions/listen` stream (through the `CallerBus`) or a legacy session
that sent `resources/subscribe` (notified through that session). Watches are keyed by caller: the constant
`SERVER_CALLER` in server-key mode (stdio, in-memory, HTTP with the server's key), so however many subscribe
to a replica's URIs it is watched once; in `--auth byo-key` mode the keyed fingerprint of the caller's key
(`auth.current_caller`), so each caller's watch runs with that caller's own client view, a caller who cannot
see the replica ends only their own watch, and notifications reach only the subscribers of the caller whose
key drove them (resource URIs are the same strings for everyone, so they cannot route by themselves).

A replica is watched while it is awake through the caller's one shared upstream SSE stream (the waits read
the same one); while it is not (preparing, sleeping, or its stream closed), by one bulk poll per caller:
the list filtered on `status=active` every `poll_interval` seconds (never wakes anything) covers all the
caller's watched replicas that are not awake, so idle traffic does not grow with their number.
Subscribers get `notifications/resources/updated` for `replicas://replicas/{id}` and
`.../history` when the status or the agent's turn state changes.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
import anyio.lowlevel
from anyio.abc import TaskGroup
from mcp.server.subscriptions import ResourceUpdated, ServerEvent

from replicas_mcp.client.errors import (
    AuthenticationError,
    NotFoundError,
    PermissionDeniedError,
    ReplicasError,
    StreamLimitError,
)
from replicas_mcp.client.events import Reconnected
from replicas_mcp.server.caller import SERVER_CALLER
from replicas_mcp.server.state.shared import SharedStateUnavailable
from replicas_mcp.server.state.streams import SharedStreams
from replicas_mcp.server.state.view import KnowingClient
from replicas_mcp.server.user_notices import tell_user

if TYPE_CHECKING:
    from replicas_mcp.client import ReplicasClient
    from replicas_mcp.client.models import EngineEvent
    from replicas_mcp.server.state.directory import ReplicaDirectory

logger = logging.getLogger(__name__)
SHARED_STATE_RETRY = 1.0  # seconds between attempts to resume a watch while Redis is unreachable

# Engine events that change what the replica's resources show: turns, chats, repository state, hooks.
# chat.updated carries awaitingInput: the agent pausing on a question (needs_input) happens mid-turn.
NOTIFYING_EVENTS = frozenset(
    {
        "chat.updated",
        "chat.turn.accepted",
        "chat.turn.started",
        "chat.turn.completed",
        "chat.interrupted",
        "chat.created",
        "chat.deleted",
        "repo.status.changed",
        "hooks.completed",
        "hooks.failed",
    }
)
STREAMABLE = frozenset({"active"})
REPLICA_URI_PREFIX = "replicas://replicas/"
# An id of the API's shape (tools/arguments.py's check_id): anything else is refused before a watch is kept.
_REPLICA_ID = r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}"
_REPLICA_URI = re.compile(rf"^replicas://replicas/({_REPLICA_ID})(?:/history)?$")
_REPLICA_SEGMENT = re.compile(rf"^replicas://replicas/{_REPLICA_ID}(?:[/?#]|$)")
# Who every caller is in server-key mode: one identity, one view of the API (the server's key).
WatchKey = tuple[str, str]  # (caller, replica id)


def replica_uri(replica_id: str) -> str:
    return f"replicas://replicas/{replica_id}"


def history_uri(replica_id: str) -> str:
    return f"replicas://replicas/{replica_id}/history"


def malformed_replica_uri(uri: str) -> bool:
    """A `replicas://replicas/...` URI whose replica id is not of an id's shape (too long, odd characters)."""
    if not uri.startswith(REPLICA_URI_PREFIX):
        return False
    return not _REPLICA_SEGMENT.match(uri) or ".." in uri.split("/")[3]


def watched_replica(uri: str) -> str | None:
    """The replica a URI is live for (its status or history resource), else None."""
    match = _REPLICA_URI.match(uri)
    return match.group(1) if match and ".." not in match.group(1) else None


class CallerBus:
    """A `SubscriptionBus` whose listeners belong to the caller that opened them.

    `subscribe` is called by the SDK's `ListenHandler` inside the `subscriptions/listen` request, so the
    caller is read from that request (`caller_of`). `publish_to(caller, event)` reaches only that caller's
    listen streams; `publish` (the SDK's `ctx.notify_*`) still reaches every stream.
    """

    def __init__(self, caller_of: Callable[[], str]) -> None:
        self._caller_of = caller_of
        self._listeners: dict[object, tuple[str, Callable[[ServerEvent], None]]] = {}

    def subscribe(self, listener: Callable[[ServerEvent], None]) -> Callable[[], None]:
        token = object()
        self._listeners[token] = (self._caller_of(), listener)

        def unsubscribe() -> None:
            self._listeners.pop(token, None)

        return unsubscribe

    async def publish(self, event: ServerEvent) -> None:
        await self._deliver(event, None)

    async def publish_to(self, caller: str, event: ServerEvent) -> None:
        await self._deliver(event, caller)

    async def _deliver(self, event: ServerEvent, caller: str | None) -> None:
        for owner, listener in list(self._listeners.values()):
            if caller is not None and owner != caller:
                continue
            try:
                listener(event)
            except Exception:  # one bad listener must not starve the others
                logger.exception("subscription listener raised; continuing")
        await anyio.lowlevel.checkpoint()  # let listen streams drain between bursts of events


@dataclass
class _Watch:
    client: ReplicasClient  # the caller's view of the API: every upstream call of this watch uses it
    users: int = 0
    # The caller's key has been seen to reach the replica (its status was found): only then do events that
    # do not come from this watch (webhooks) reach this caller.
    visible: bool = False
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    woke: anyio.Event = field(default_factory=anyio.Event)  # set by the caller's bulk poll
    seen: bool = False  # its status was found at least once (so its disappearing is news)
    refused: bool = False  # upstream answered 401, 403 or 404 for this replica with this caller's key


class ReplicaWatcher:
    """Reference-counted watches, one task per (caller, replica), all in the lifespan's task group.

    An awake replica is followed on the caller's shared upstream stream (`streams`, the same one the waits
    read). Every replica that is not awake is covered by one bulk poll per caller: the list filtered on
    `status=active` every `poll_interval` seconds says which of them woke, whatever their number.
    """

    def __init__(
        self,
        bus: CallerBus,
        task_group: TaskGroup,
        *,
        poll_interval: float,
        streams: SharedStreams | None = None,
        directory: ReplicaDirectory | None = None,
    ) -> None:
        self._bus = bus
        self._tg = task_group
        self._poll_interval = poll_interval
        self._streams = streams
        self._directory = directory
        if directory is not None:
            directory.on_forget.append(self._forgotten)
        self._watches: dict[WatchKey, _Watch] = {}
        # (caller, uri) -> {owner: session}: legacy connections subscribed, each with a session to notify it
        self._legacy: dict[tuple[str, str], dict[object, Any]] = {}
        self._owned: dict[object, set[tuple[str, str]]] = {}  # owner -> its (caller, uri) subscriptions
        self._sleepers: dict[str, set[str]] = {}  # caller -> replicas waiting for the bulk poll to see a wake
        self._pollers: set[str] = set()  # callers whose bulk poll runs
        self.published = 0  # notifications sent, for tests and diagnostics
        self.degraded = 0  # watches that polled because the live stream limit was reached

    @property
    def owners(self) -> frozenset[object]:
        """The legacy sessions (their connections) holding subscriptions."""
        return frozenset(self._owned)

    @property
    def watched(self) -> frozenset[WatchKey]:
        """The (caller, replica id) pairs being watched."""
        return frozenset(self._watches)

    # --- subscription bookkeeping ---------------------------------------------------------------------

    def acquire(self, uris: Iterable[str], caller: str, client: ReplicasClient) -> list[WatchKey]:
        """Start watching, as `caller` through `client`, the replicas behind `uris` (unless this caller
        already does); returns the watches acquired, for `release`."""
        acquired = []
        for uri in uris:
            replica_id = watched_replica(uri)
            if replica_id is None:
                continue
            key = (caller, replica_id)
            watch = self._watches.get(key)
            if watch is None:
                watch = self._watches[key] = _Watch(client)
                self._tg.start_soon(self._run, key, watch)
            watch.users += 1
            acquired.append(key)
        return acquired

    def release(self, keys: Iterable[WatchKey]) -> None:
        for key in keys:
            watch = self._watches.get(key)
            if watch is None:
                continue
            watch.users -= 1
            if watch.users <= 0:
                del self._watches[key]
                watch.scope.cancel()

    def subscribe_session(
        self, uri: str, session: Any, caller: str, client: ReplicasClient, owner: object | None = None
    ) -> None:
        """A legacy `resources/subscribe`: remember who holds it (`owner`, the connection: it ends with it,
        `end_session`) and the session to notify; watch the replica once per owner. A URI that is not a live
        replica resource is never kept (nothing would ever be sent for it)."""
        if watched_replica(uri) is None:
            return
        owner = session if owner is None else owner
        sessions = self._legacy.setdefault((caller, uri), {})
        if owner not in sessions:
            sessions[owner] = session
            self._owned.setdefault(owner, set()).add((caller, uri))
            self.acquire([uri], caller, client)

    def is_subscribed(self, uri: str, owner: object, caller: str) -> bool:
        """Whether this legacy owner still holds its subscription (it is dropped when the session ends)."""
        return owner in self._legacy.get((caller, uri), {})

    def unsubscribe_session(self, uri: str, owner: object, caller: str) -> None:
        sessions = self._legacy.get((caller, uri), {})
        if owner in sessions:
            del sessions[owner]
            if not sessions:
                del self._legacy[(caller, uri)]
            owned = self._owned.get(owner)
            if owned is not None:
                owned.discard((caller, uri))
                if not owned:
                    del self._owned[owner]
            replica_id = watched_replica(uri)
            if replica_id:
                self.release([(caller, replica_id)])

    def end_session(self, owner: object) -> list[tuple[str, str]]:
        """The legacy session `owner` ended (DELETE, stream closed): drop all its subscriptions, so their
        watches stop; returns the (caller, uri) pairs it held."""
        held = sorted(self._owned.get(owner, ()))
        for caller, uri in held:
            self.unsubscribe_session(uri, owner, caller)
        return held

    # --- notifying ------------------------------------------------------------------------------------

    async def notify(self, replica_id: str, caller: str) -> None:
        """Tell `caller`'s subscribers of the replica's status and history resources that they changed."""
        for uri in (replica_uri(replica_id), history_uri(replica_id)):
            await self._bus.publish_to(caller, ResourceUpdated(uri=uri))
            for owner, session in list(self._legacy.get((caller, uri), {}).items()):
                try:
                    with anyio.fail_after(5):
                        await session.send_resource_updated(uri)
                except Exception:  # a closed legacy session: forget it
                    logger.info("dropping a legacy subscriber of %s: its session is gone", uri)
                    self.unsubscribe_session(uri, owner, caller)
        self.published += 1

    async def notify_subscribers(self, replica_id: str) -> None:
        """An event from outside the watches (a webhook): notify the server-key subscribers, and each byo-key
        caller whose own key has been seen to reach the replica (not one who merely subscribed to its id)."""
        callers = {SERVER_CALLER}
        callers.update(c for (c, r), w in list(self._watches.items()) if r == replica_id and w.visible)
        for caller in sorted(callers):
            if self._directory is not None:
                await self._directory.mark_stale(caller, replica_id)
            key = (caller, replica_id)
            if key in self._watches:
                self._watches[key].woke.set()  # the watch re-reads the status at once
            await self.notify(replica_id, caller)

    def _forgotten(self, caller: str, replica_id: str) -> None:
        watch = self._watches.get((caller, replica_id))
        if watch is not None:
            watch.woke.set()  # deleted: the watch looks again, finds it gone and ends

    # --- watching -------------------------------------------------------------------------------------

    async def _run(self, key: WatchKey, watch: _Watch) -> None:
        with watch.scope:
            try:
                while True:
                    try:
                        await self._watch(key, watch)
                        return
                    except SharedStateUnavailable:  # a fleet's Redis is down: carry on once it is back
                        logger.warning("watch of replica %s paused: shared state unreachable", key[1])
                        await anyio.sleep(SHARED_STATE_RETRY)
            except Exception:  # never let one replica's watch take the server down
                logger.exception("watch of replica %s stopped", key[1])
            finally:
                self._not_sleeping(*key)

    async def _status(self, replica_id: str, watch: _Watch) -> str | None:
        try:
            item = await watch.client.replicas.status(replica_id)
        except (AuthenticationError, PermissionDeniedError, NotFoundError) as exc:
            # 401/403/404: this key will never see it; the watch ends and its subscribers are told (`_watch`).
            logger.info("watch of %s ends: the caller's key cannot see it (%s)", replica_id, exc)
            watch.refused = True
            return None
        except ReplicasError as exc:
            logger.info("status check of %s failed: %s", replica_id, exc)
            return "unknown"
        status = item.status if item is not None else None
        watch.visible = status is not None
        watch.seen = watch.seen or watch.visible
        return status

    async def _watch(self, key: WatchKey, watch: _Watch) -> None:
        caller, replica_id = key
        last = await self._status(replica_id, watch)
        while True:
            if last is None:  # deleted, never existed or not this caller's: nothing more to watch
                if watch.refused or watch.seen:  # it ended under the subscribers: they re-read and see why
                    await self.notify(replica_id, caller)
                return
            if last in STREAMABLE:
                await self._follow_stream(key, watch)
            else:
                await self._until_woken(key, watch)
            status = await self._status(replica_id, watch)
            if status != last and status != "unknown":
                await self.notify(replica_id, caller)
            if status != "unknown":
                last = status

    async def _until_woken(self, key: WatchKey, watch: _Watch) -> None:
        """Sleep until the caller's bulk poll sees the replica awake (or one poll interval without one)."""
        caller, replica_id = key
        if self._directory is None:
            await anyio.sleep(self._poll_interval)
            return
        watch.woke = anyio.Event()
        self._sleepers.setdefault(caller, set()).add(replica_id)
        if caller not in self._pollers:
            self._pollers.add(caller)
            self._tg.start_soon(self._bulk_poll, caller, watch.client)
        try:
            await watch.woke.wait()
        finally:
            self._not_sleeping(caller, replica_id)

    def _not_sleeping(self, caller: str, replica_id: str) -> None:
        sleepers = self._sleepers.get(caller)
        if sleepers is not None:
            sleepers.discard(replica_id)
            if not sleepers:
                del self._sleepers[caller]  # no entry kept for a caller with nothing asleep

    async def _bulk_poll(self, caller: str, client: ReplicasClient) -> None:
        """One list read per interval for all of this caller's replicas that are not awake."""
        assert self._directory is not None
        try:
            while self._sleepers.get(caller):
                await anyio.sleep(self._poll_interval)
                sleepers = self._sleepers.get(caller, set())
                if not sleepers:
                    break
                try:
                    woke = (
                        sleepers & (await self._directory.awake(caller, client.replicas, max_age=0.0)).keys()
                    )
                except (AuthenticationError, PermissionDeniedError):
                    woke = set(sleepers)  # let each watch find out it ended
                except (ReplicasError, SharedStateUnavailable) as exc:
                    logger.info("bulk status poll failed: %s", exc)
                    continue
                except Exception:  # it runs in the lifespan's task group: it must never take the server down
                    logger.debug("bulk status poll failed unexpectedly", exc_info=True)
                    tell_user("watch-poll", "live updates of sleeping replicas are failing; retrying")
                    continue
                for replica_id in woke:
                    watch = self._watches.get((caller, replica_id))
                    if watch is not None:
                        watch.woke.set()
                await self._census(caller, client, set(sleepers) - woke)
        finally:
            self._pollers.discard(caller)

    async def _census(self, caller: str, client: ReplicasClient, asleep: set[str]) -> None:
        """A watched replica deleted by someone else while asleep is noticed here (no event or list shows
        it): the directory's census forgets it, which wakes its watch to find it gone and tell subscribers."""
        assert self._directory is not None
        if not asleep:
            return
        try:
            await self._directory.census(caller, client.replicas, asleep)
        except (ReplicasError, SharedStateUnavailable) as exc:
            logger.info("census of sleeping replicas failed: %s", exc)
        except Exception:  # in the lifespan's task group, like the poll: never take the server down
            logger.debug("census of sleeping replicas failed unexpectedly", exc_info=True)
            tell_user("watch-poll", "live updates of sleeping replicas are failing; retrying")

    async def _follow_stream(self, key: WatchKey, watch: _Watch) -> None:
        """Forward turn-state changes until the stream ends (the replica slept, or the stream gave up)."""
        caller, replica_id = key
        try:
            async with self._events(caller, replica_id, watch.client) as events:
                async for event in events:
                    # After a reconnect, what was sent meanwhile may be lost (no replay is promised): the
                    # subscribers are told to read again, as they would be for the events missed.
                    if isinstance(event, Reconnected) or event.type in NOTIFYING_EVENTS:
                        await self.notify(replica_id, caller)
        except StreamLimitError:
            self.degraded += 1
            tell_user(
                "degraded", f"live updates of {replica_id} come by polling: the live stream limit is reached"
            )
            await anyio.sleep(self._poll_interval)
            return
        except ReplicasError as exc:
            logger.info("event stream of %s ended: %s", replica_id, exc)
        if self._directory is not None:
            await self._directory.mark_stale(caller, replica_id)
        # A stream that ends while the replica stays active must not turn into a busy loop.
        await anyio.sleep(min(self._poll_interval, 1.0))

    def _events(
        self, caller: str, replica_id: str, client: ReplicasClient
    ) -> contextlib.AbstractAsyncContextManager[AsyncIterator[EngineEvent | Reconnected]]:
        if self._streams is None:
            return client.events.marked_stream(replica_id)
        base = client.base if isinstance(client, KnowingClient) else client
        return self._streams.subscribe(caller, replica_id, base, after=None)
