"""Per-replica engine event log: the source of `GET /v1/replica/{id}/events`.

Every event gets a sequence number; its SSE id is `ev-<replica prefix>-<seq>`, so a reconnecting client's
`Last-Event-ID` tells us exactly where it stopped. Events live in a bounded ring buffer: a client that
reconnects within the buffer's reach loses nothing and sees nothing twice.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import anyio

from replicas_mcp.sandbox.clock import Clock

DEFAULT_BUFFER_SIZE = 2000


@dataclass(frozen=True)
class EngineEvent:
    seq: int
    id: str
    ts: str
    type: str
    payload: dict[str, Any]

    def wire(self) -> dict[str, Any]:
        """The EngineEvent JSON object of the spec."""
        return {"id": self.id, "ts": self.ts, "type": self.type, "payload": self.payload}


@dataclass
class EventLog:
    replica_id: str
    buffer_size: int = DEFAULT_BUFFER_SIZE
    _events: deque[EngineEvent] = field(init=False)
    _next_seq: int = field(default=1, init=False)
    _changed: anyio.Event = field(default_factory=anyio.Event, init=False)
    closed: bool = field(default=False, init=False)
    subscribers: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self._events = deque(maxlen=self.buffer_size)

    def event_id(self, seq: int) -> str:
        return f"ev-{self.replica_id[:8]}-{seq:06d}"

    @staticmethod
    def seq_of(event_id: str | None) -> int | None:
        """The sequence number inside an event id, or None for an id this log never issued."""
        if not event_id:
            return None
        _, _, tail = event_id.strip().rpartition("-")
        return int(tail) if tail.isdigit() else None

    def publish(self, event_type: str, payload: dict[str, Any]) -> EngineEvent:
        event = EngineEvent(
            seq=self._next_seq,
            id=self.event_id(self._next_seq),
            ts=Clock.iso(),
            type=event_type,
            payload=payload,
        )
        self._next_seq += 1
        self._events.append(event)
        self._wake_subscribers()
        return event

    def close(self) -> None:
        """No more events (the replica is gone or asleep): open streams end after draining."""
        self.closed = True
        self._wake_subscribers()

    def reopen(self) -> None:
        self.closed = False

    def _wake_subscribers(self) -> None:
        # anyio.Event cannot be reset, so each change swaps in a fresh one.
        changed, self._changed = self._changed, anyio.Event()
        changed.set()

    def since(self, after_seq: int) -> list[EngineEvent]:
        """The buffered events after `after_seq`, oldest first.

        Scanned from the newest end: a following stream asks after every publish, so there are few.
        """
        newer: list[EngineEvent] = []
        for event in reversed(self._events):
            if event.seq <= after_seq:
                break
            newer.append(event)
        newer.reverse()
        return newer

    @property
    def last_seq(self) -> int:
        return self._next_seq - 1

    async def follow(self, after_seq: int, *, heartbeat: float) -> AsyncIterator[EngineEvent | None]:
        """Yield events after `after_seq` as they arrive; yield None when `heartbeat` seconds pass quietly.

        Ends when the log is closed and drained.
        """
        cursor = after_seq
        self.subscribers += 1
        try:
            while True:
                pending = self.since(cursor)
                for event in pending:
                    cursor = event.seq
                    yield event
                if pending:
                    continue
                if self.closed:
                    return
                changed = self._changed
                with anyio.move_on_after(heartbeat) as scope:
                    await changed.wait()
                if scope.cancelled_caught:
                    yield None
        finally:
            self.subscribers -= 1
