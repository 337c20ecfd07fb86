"""The bench's own logic (no timing here: CI runs `python -m bench --short` to check the bench runs)."""

from __future__ import annotations

import json
import math
from pathlib import Path

from bench.results import Report, Target
from bench.stats import percentile, ratio


def test_percentiles_interpolate() -> None:
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0
    assert percentile([1.0, 2.0], 95) == 1.95
    assert math.isnan(percentile([], 50))
    assert math.isnan(ratio(1.0, 0.0))


def test_targets_verdicts() -> None:
    assert Target("a", 1.5, 1.2, "×").verdict == "pass"
    assert Target("b", 1.5, 1.7, "×").verdict == "FAIL"
    assert Target("c", 150, 200, "/s", at_least=True).verdict == "pass"
    assert Target("d", 1.0, None, " s", note="n/a (tool missing)").verdict == "n/a"


def test_report_table_and_json(tmp_path: Path) -> None:
    report = Report(mode="short")
    report.sections["x"] = {"p50": float("nan")}
    report.add_targets(Target("slow", 1.0, 2.0, "×", note="why"), Target("ok", 1.0, 0.5, "×"))
    table = report.table()
    assert "FAIL" in table
    assert "pass" in table
    assert "* slow: why" in table
    path = report.write(tmp_path / "results.json")
    data = json.loads(path.read_text())
    assert data["sections"]["x"]["p50"] is None
    assert [t["verdict"] for t in data["targets"]] == ["FAIL", "pass"]
