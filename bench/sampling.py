"""Sampling CPU and RSS of a process while something runs (psutil)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import psutil

MB = 1024 * 1024


def rss_mb(pid: int) -> float:
    return float(psutil.Process(pid).memory_info().rss) / MB


@dataclass
class Samples:
    cpu_percent: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, float | None]:
        if not self.rss_mb:
            return {"cpu_mean_pct": None, "rss_peak_mb": None}
        half = len(self.cpu_percent) // 2 or 1
        first, second = self.cpu_percent[:half], self.cpu_percent[half:] or self.cpu_percent[:half]
        return {
            "cpu_mean_pct": round(sum(self.cpu_percent) / len(self.cpu_percent), 1),
            "cpu_first_half_pct": round(sum(first) / len(first), 1),
            "cpu_second_half_pct": round(sum(second) / len(second), 1),
            "rss_start_mb": round(self.rss_mb[0], 1),
            "rss_peak_mb": round(max(self.rss_mb), 1),
            "rss_end_mb": round(self.rss_mb[-1], 1),
        }


@contextlib.asynccontextmanager
async def sampling(pid: int, interval: float = 0.2) -> AsyncIterator[Samples]:
    """Samples the process's CPU % (of one core) and RSS every `interval` until the block ends."""
    process = psutil.Process(pid)
    process.cpu_percent(None)
    samples = Samples(rss_mb=[float(process.memory_info().rss) / MB])

    async def run() -> None:
        while True:
            await asyncio.sleep(interval)
            samples.cpu_percent.append(process.cpu_percent(None))
            samples.rss_mb.append(float(process.memory_info().rss) / MB)

    task = asyncio.get_running_loop().create_task(run())
    try:
        yield samples
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, psutil.Error):
            await task
