"""Progress for long waits: a strictly increasing value, a message, and a heartbeat while it is quiet.

Clients that reset their request timeout on progress keep waiting as long as notifications arrive, so a
quiet stretch (an agent thinking for a minute) still sends one every `every` seconds.

A wait on several replicas (`join(total)`) counts them as they finish: each message names its replica
(`named`) and ends with "(1/3 done)", and the value is the number done plus a fraction that grows with each
message in between (it must increase with every notification, and a heartbeat changes no count), against a
total of the replicas.

The heartbeat is a task. Given a long-lived task group (`background`: the server's lifespan), it runs there
and leaving the block only cancels it; otherwise it runs in a task group of its own, whose exit takes a turn
of the event loop to join it (and to let every other ready task run first), on the path of every wait's
result.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import anyio

if TYPE_CHECKING:
    from anyio.abc import TaskGroup

logger = logging.getLogger(__name__)

ProgressSink = Callable[[float, float | None, str], Awaitable[None]]  # progress, total, message


async def _discard(progress: float, total: float | None, message: str) -> None:
    return None


class Progress:
    """Numbered progress messages sent to `sink` (for tools: `ctx.report_progress`)."""

    def __init__(self, sink: ProgressSink | None = None, *, background: TaskGroup | None = None) -> None:
        self._sink = sink or _discard
        self._background = background
        self.count = 0
        self._last = time.monotonic()
        self._total: int | None = None  # a join: how many replicas, how many done, ticks since the last
        self._done = 0
        self._since = 0

    def join(self, total: int) -> None:
        """From now on, progress of a wait on `total` replicas (see the module docstring)."""
        self._total, self._done, self._since = total, 0, 0

    def named(self, label: str) -> Progress:
        """The same progress, each message saying which replica it is about."""
        return _Named(self, label)

    async def finished(self, label: str, state: str) -> None:
        """One replica of a join is done (its wait ended, in `state`)."""
        self._done += 1
        self._since = 0
        await self.tick(f"{label}: {state}")

    async def tick(self, message: str) -> None:
        self.count += 1  # counted before the await: a cancelled send never reuses a number
        self._last = time.monotonic()
        if self._total is None:
            await self._sink(float(self.count), None, message)
            return
        value = self._done + self._since / (self._since + 1)  # below done + 1, whatever the count
        self._since += 1
        await self._sink(value, float(self._total), f"{message} ({self._done}/{self._total} done)")

    @asynccontextmanager
    async def heartbeat(self, every: float, message: str = "still waiting") -> AsyncIterator[None]:
        """Within the block, tick whenever `every` seconds pass without any other tick."""
        if self._background is not None:
            beat = anyio.CancelScope()
            self._background.start_soon(self._beat_in, beat, every, message)
            try:
                yield
            finally:
                beat.cancel()  # a tick in flight is cancelled with it: none is sent after the block
            return
        failure: Exception | None = None
        async with anyio.create_task_group() as group:
            group.start_soon(self._beat, every, message)
            try:
                yield
            except Exception as exc:  # re-raised below as itself, not wrapped in an ExceptionGroup
                failure = exc
            finally:
                group.cancel_scope.cancel()
        if failure is not None:
            raise failure

    async def _beat(self, every: float, message: str) -> None:
        while True:
            await anyio.sleep(max(0.0, self._last + every - time.monotonic()))
            if time.monotonic() - self._last >= every:
                await self.tick(message)

    async def _beat_in(self, beat: anyio.CancelScope, every: float, message: str) -> None:
        """The heartbeat in the background group: it must never fail that group (the server's)."""
        with beat:
            try:
                await self._beat(every, message)
            except Exception:
                logger.info("progress heartbeat stopped", exc_info=True)


class _Named(Progress):
    """A replica's view of a join's progress: its messages go to the join's, prefixed with its name."""

    def __init__(self, parent: Progress, label: str) -> None:
        super().__init__(background=parent._background)
        self._parent = parent
        self._label = label

    async def tick(self, message: str) -> None:
        await self._parent.tick(f"{self._label}: {message}")
