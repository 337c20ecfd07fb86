"""`replicas-mcp demo` runs a whole delegation end to end (in-process, fast clock)."""

from __future__ import annotations

import pytest

from replicas_mcp import demo


def test_the_demo_runs_a_whole_delegation(capsys: pytest.CaptureFixture[str]) -> None:
    assert demo.main(["--time-scale", "0.05"]) == 0
    out = capsys.readouterr().out
    for step in ("delegate_task(", "wait_for_replica(", "get_replica_result(", "send_replica_message("):
        assert step in out
    assert "pull request opened" in out
    assert "open question: Should an empty email" in out
    assert "outcome waiting_for_input" in out


def test_the_demo_rejects_bad_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    assert demo.main(["--time-scale", "0"]) == 2
    assert "--time-scale" in capsys.readouterr().err


def test_a_failure_says_its_real_cause_in_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    async def failing(scale: float, step: int) -> int:
        raise ExceptionGroup("unhandled errors in a TaskGroup", [RuntimeError("delegate_task failed: boom")])

    monkeypatch.setattr(demo, "_run", failing)
    assert demo.main([]) == 1
    err = capsys.readouterr().err
    assert err == "replicas-mcp demo failed: RuntimeError: delegate_task failed: boom\n"
