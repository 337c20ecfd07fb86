"""Scaled time for the sandbox.

`scale` multiplies every simulated duration: 1.0 is the documented default (a turn takes about a second),
0.05 makes a test suite fast. Timestamps are real wall-clock UTC so they look like the API's; schedules
(cron automations) run on `simulated_now()`, which starts at the wall clock and advances 1/scale times
as fast, so a time-scaled sandbox reaches the next fire time of a cron schedule as quickly as a turn.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import anyio


class Clock:
    def __init__(self, scale: float = 1.0) -> None:
        if scale <= 0:
            raise ValueError("time scale must be positive")
        self.scale = scale
        self._epoch = datetime.now(UTC)
        self._started = time.monotonic()

    def simulated_now(self) -> datetime:
        """The sandbox's own time: the wall clock at start plus the elapsed time divided by the scale."""
        return self._epoch + timedelta(seconds=(time.monotonic() - self._started) / self.scale)

    def scaled(self, seconds: float) -> float:
        return seconds * self.scale

    async def sleep(self, seconds: float) -> None:
        """Sleep for a simulated duration (scaled)."""
        await anyio.sleep(seconds * self.scale)

    def monotonic(self) -> float:
        return anyio.current_time()

    @staticmethod
    def now() -> datetime:
        return datetime.now(UTC)

    @staticmethod
    def iso(moment: datetime | None = None) -> str:
        """ISO 8601 with milliseconds and a Z, as the API writes timestamps."""
        value = moment or datetime.now(UTC)
        return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
