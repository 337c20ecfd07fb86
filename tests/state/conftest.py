"""Fixtures for the economy tests."""

from __future__ import annotations

import pytest

from replicas_mcp.delegation.answers import ANSWERS
from replicas_mcp.delegation.failures import FAILURES
from replicas_mcp.delegation.launch import _ENVIRONMENTS, _TASKS


@pytest.fixture(autouse=True)
def forget_process_memory() -> None:
    """What this process remembers per replica id (questions answered, tasks started, failure reasons)
    starts empty: every sandbox is seeded alike, so replica, chat and tool-call ids repeat from test to test,
    and a question another test answered would otherwise count as answered here."""
    _TASKS.clear()
    _ENVIRONMENTS.clear()
    FAILURES.clear()
    ANSWERS.clear()
