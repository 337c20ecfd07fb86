"""Live status: one upstream watch per watched replica, fanned out to every subscriber.

A subscriber is a 2026-07-28 `subscriptions/listen` stream (through the `SubscriptionBus`) or a legacy
session that sent `resources/subscribe` (notified through that session). However many subscribe to a
replica's URIs, the replica is watched once: while it is awake, through its SSE event stream; while it is
not (preparing, sleeping, or its stream closed), by checking its status through the list endpoint every
`poll_interval` seconds, which never wakes it. Subscribers get `notifications/resources/updated` for
`replicas://replicas/{id}` and `.../history` when the status or the agent's turn state changes.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskGroup
from mcp.server.subscriptions import ResourceUpdated, SubscriptionBus

from replicas_mcp.client.errors import ReplicasError

if TYPE_CHECKING:
    from replicas_mcp.client import ReplicasClient

logger = logging.getLogger(__name__)

# Engine events that change what the replica's resources show: turns, chats, repository state, hooks.
NOTIFYING_EVENTS = frozenset(
    {
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
_REPLICA_URI = re.compile(r"^replicas://replicas/([^/?#]+)(?:/history)?$")


def replica_uri(replica_id: str) -> str:
    return f"replicas://replicas/{replica_id}"


def history_uri(replica_id: str) -> str:
    return f"replicas://replicas/{replica_id}/history"


def watched_replica(uri: str) -> str | None:
    """The replica a URI is live for (its status or history resource), else None."""
    match = _REPLICA_URI.match(uri)
    return match.group(1) if match else None


@dataclass
class _Watch:
    users: int = 0
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)


class ReplicaWatcher:
    """Reference-counted watches, one task per replica, all in the lifespan's task group."""

    def __init__(
        self, client: ReplicasClient, bus: SubscriptionBus, task_group: TaskGroup, *, poll_interval: float
    ) -> None:
        self._client = client
        self._bus = bus
        self._tg = task_group
        self._poll_interval = poll_interval
        self._watches: dict[str, _Watch] = {}
        self._legacy: dict[str, set[Any]] = {}  # uri -> legacy sessions subscribed to it
        self.published = 0  # notifications sent, for tests and diagnostics

    @property
    def watched(self) -> frozenset[str]:
        return frozenset(self._watches)

    # --- subscription bookkeeping ---------------------------------------------------------------------

    def acquire(self, uris: Iterable[str]) -> list[str]:
        """Start watching the replicas behind `uris` (if not already); returns the replica ids acquired."""
        acquired = []
        for uri in uris:
            replica_id = watched_replica(uri)
            if replica_id is None:
                continue
            watch = self._watches.get(replica_id)
            if watch is None:
                watch = self._watches[replica_id] = _Watch()
                self._tg.start_soon(self._run, replica_id, watch)
            watch.users += 1
            acquired.append(replica_id)
        return acquired

    def release(self, replica_ids: Iterable[str]) -> None:
        for replica_id in replica_ids:
            watch = self._watches.get(replica_id)
            if watch is None:
                continue
            watch.users -= 1
            if watch.users <= 0:
                del self._watches[replica_id]
                watch.scope.cancel()

    def subscribe_session(self, uri: str, session: Any) -> None:
        """A legacy `resources/subscribe`: remember the session; watch the replica once per session."""
        sessions = self._legacy.setdefault(uri, set())
        if session not in sessions:
            sessions.add(session)
            self.acquire([uri])

    def unsubscribe_session(self, uri: str, session: Any) -> None:
        sessions = self._legacy.get(uri, set())
        if session in sessions:
            sessions.discard(session)
            replica_id = watched_replica(uri)
            if replica_id:
                self.release([replica_id])

    # --- notifying ------------------------------------------------------------------------------------

    async def notify(self, replica_id: str) -> None:
        """Tell every subscriber of the replica's status and history resources that they changed."""
        for uri in (replica_uri(replica_id), history_uri(replica_id)):
            await self._bus.publish(ResourceUpdated(uri=uri))
            for session in list(self._legacy.get(uri, ())):
                try:
                    with anyio.fail_after(5):
                        await session.send_resource_updated(uri)
                except Exception:  # a closed legacy session: forget it
                    logger.info("dropping a legacy subscriber of %s: its session is gone", uri)
                    self.unsubscribe_session(uri, session)
        self.published += 1

    # --- watching -------------------------------------------------------------------------------------

    async def _run(self, replica_id: str, watch: _Watch) -> None:
        with watch.scope:
            try:
                await self._watch(replica_id)
            except Exception:  # never let one replica's watch take the server down
                logger.exception("watch of replica %s stopped", replica_id)

    async def _status(self, replica_id: str) -> str | None:
        try:
            item = await self._client.replicas.status(replica_id)
        except ReplicasError as exc:
            logger.info("status check of %s failed: %s", replica_id, exc)
            return "unknown"
        return item.status if item is not None else None

    async def _watch(self, replica_id: str) -> None:
        last = await self._status(replica_id)
        while True:
            if last is None:  # deleted (or never existed): subscribers were told; nothing more to watch
                return
            if last in STREAMABLE:
                await self._follow_stream(replica_id)
            else:
                await anyio.sleep(self._poll_interval)
            status = await self._status(replica_id)
            if status != last and status != "unknown":
                await self.notify(replica_id)
            if status != "unknown":
                last = status

    async def _follow_stream(self, replica_id: str) -> None:
        """Forward turn-state changes until the stream ends (the replica slept, or the stream gave up)."""
        try:
            async with self._client.events.stream(replica_id) as events:
                async for event in events:
                    if event.type in NOTIFYING_EVENTS:
                        await self.notify(replica_id)
        except ReplicasError as exc:
            logger.info("event stream of %s ended: %s", replica_id, exc)
        # A stream that ends while the replica stays active must not turn into a busy loop.
        await anyio.sleep(min(self._poll_interval, 1.0))
