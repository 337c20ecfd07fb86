"""Progress for long waits: a strictly increasing count, a message, and a heartbeat while it is quiet.

Clients that reset their request timeout on progress keep waiting as long as notifications arrive, so a
quiet stretch (an agent thinking for a minute) still sends one every `every` seconds.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import anyio

ProgressSink = Callable[[float, str], Awaitable[None]]


async def _discard(progress: float, message: str) -> None:
    return None


class Progress:
    """Numbered progress messages sent to `sink` (for tools: `ctx.report_progress`)."""

    def __init__(self, sink: ProgressSink | None = None) -> None:
        self._sink = sink or _discard
        self.count = 0
        self._last = time.monotonic()

    async def tick(self, message: str) -> None:
        self.count += 1  # counted before the await: a cancelled send never reuses a number
        self._last = time.monotonic()
        await self._sink(float(self.count), message)

    @asynccontextmanager
    async def heartbeat(self, every: float, message: str = "still waiting") -> AsyncIterator[None]:
        """Within the block, tick whenever `every` seconds pass without any other tick."""
        failure: Exception | None = None
        async with anyio.create_task_group() as group:

            async def beat() -> None:
                while True:
                    await anyio.sleep(max(0.0, self._last + every - time.monotonic()))
                    if time.monotonic() - self._last >= every:
                        await self.tick(message)

            group.start_soon(beat)
            try:
                yield
            except Exception as exc:  # re-raised below as itself, not wrapped in an ExceptionGroup
                failure = exc
            finally:
                group.cancel_scope.cancel()
        if failure is not None:
            raise failure
