"""The report: sections of measurements, targets checked against them, the printed table, results.json."""

from __future__ import annotations

import json
import math
import os
import platform
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

RESULTS_PATH = Path(__file__).with_name("results.json")

Verdict = Literal["pass", "FAIL", "n/a"]


@dataclass(frozen=True)
class Target:
    """One target: `measured <= limit` (or `>=` when `at_least`); `value` None means not measured."""

    name: str
    limit: float
    value: float | None
    unit: str
    at_least: bool = False
    note: str = ""

    @property
    def verdict(self) -> Verdict:
        if self.value is None or math.isnan(self.value):
            return "n/a"
        ok = self.value >= self.limit if self.at_least else self.value <= self.limit
        return "pass" if ok else "FAIL"

    def row(self) -> tuple[str, str, str, str]:
        sign = "≥" if self.at_least else "≤"
        target = f"{sign} {_fmt(self.limit)}{self.unit}"
        measured = "n/a" if self.value is None or math.isnan(self.value) else f"{_fmt(self.value)}{self.unit}"
        return self.name, target, measured, self.verdict


def _fmt(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


@dataclass
class Report:
    mode: str
    sections: dict[str, Any] = field(default_factory=dict)
    targets: list[Target] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def add_targets(self, *targets: Target) -> None:
        self.targets.extend(targets)

    def table(self) -> str:
        rows = [("target", "limit", "measured", "result"), *(t.row() for t in self.targets)]
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        lines = []
        for index, row in enumerate(rows):
            lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
            if index == 0:
                lines.append("  ".join("-" * w for w in widths))
        for target in self.targets:
            if target.note and target.verdict != "pass":
                lines.append(f"  * {target.name}: {target.note}")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "machine": machine(),
            "sections": self.sections,
            "targets": [{**asdict(t), "verdict": t.verdict} for t in self.targets],
            "errors": self.errors,
        }

    def write(self, path: Path = RESULTS_PATH) -> Path:
        path.write_text(json.dumps(_clean(self.to_json()), indent=2, default=str) + "\n")
        return path


def _clean(value: Any) -> Any:
    """NaN is not JSON: it becomes null."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def machine() -> dict[str, Any]:
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_avg": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
    }
