"""`replicas-mcp demo` runs a whole delegation end to end (in-process, fast clock)."""

from __future__ import annotations

import pytest

from replicas_mcp import demo


def test_the_demo_runs_a_whole_delegation(capsys: pytest.CaptureFixture[str]) -> None:
    assert demo.main(["--time-scale", "0.05"]) == 0
    out = capsys.readouterr().out
    for step in ("delegate_task(", "wait_for_replica(", "get_replica_result(", "steer_replica("):
        assert step in out
    assert "pull request opened" in out
    assert "open question: Should an empty email" in out
    assert "outcome waiting_for_input" in out


def test_the_demo_rejects_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert demo.main(["--time-scale", "0"]) == 2
    assert "--time-scale" in capsys.readouterr().err
