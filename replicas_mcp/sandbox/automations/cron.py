"""Cron automations fire by themselves, on the sandbox's scaled clock.

One background task per sandbox looks at every organization's enabled cron automations once per
simulated second (never more often than every 20 ms of real time) and launches those whose schedule has
come due in `Clock.simulated_now()`. A schedule seen for the first time (a new automation, a changed
schedule, a re-enabled automation) is due at its next fire time after that moment, so nothing fires
for the time before it existed. At `time_scale=0.001` a `* * * * *` automation fires every 60 ms.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

import anyio

from replicas_mcp.sandbox.automations.store import AutomationStore, launch_message
from replicas_mcp.sandbox.automations.triggers import next_fire
from replicas_mcp.sandbox.clock import Clock
from replicas_mcp.sandbox.errors import ApiError

logger = logging.getLogger("replicas_mcp.sandbox")

MIN_TICK_SECONDS = 0.02


@dataclass(frozen=True)
class _Due:
    schedule: str
    timezone: str
    at: datetime


class CronScheduler:
    def __init__(self, *, clock: Clock, stores: Callable[[], Iterable[AutomationStore]]) -> None:
        self._clock = clock
        self._stores = stores
        self._due: dict[str, _Due] = {}

    async def run(self) -> None:
        """Fire due automations until cancelled (the sandbox's shutdown cancels it)."""
        tick = max(self._clock.scaled(1.0), MIN_TICK_SECONDS)
        while True:
            await anyio.sleep(tick)
            self.fire_due(self._clock.simulated_now())

    def fire_due(self, now: datetime) -> int:
        """Launch every automation whose cron schedule is due at `now`; returns how many fired."""
        fired = 0
        seen: set[str] = set()
        for store in self._stores():
            for automation in store.enabled():
                cron = automation.cron_trigger
                if cron is None:
                    continue
                seen.add(automation.id)
                due = self._due.get(automation.id)
                if due is None or (due.schedule, due.timezone) != (cron["schedule"], cron["timezone"]):
                    self._due[automation.id] = _Due(
                        cron["schedule"], cron["timezone"], next_fire(cron["schedule"], cron["timezone"], now)
                    )
                    continue
                if now < due.at:
                    continue
                self._due[automation.id] = _Due(
                    due.schedule, due.timezone, next_fire(due.schedule, due.timezone, now)
                )
                payload = {"source": "cron", "scheduled_at": Clock.iso(due.at)}
                try:
                    store.launch(automation, payload, launch_message(automation, None, None))
                except ApiError as exc:  # recorded as a failed execution by the store
                    logger.info("cron automation %s could not launch: %s", automation.id, exc.error)
                fired += 1
        for forgotten in set(self._due) - seen:  # deleted, disabled or no longer cron: start afresh later
            del self._due[forgotten]
        return fired
