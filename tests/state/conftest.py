"""Fixtures for the economy tests."""

from __future__ import annotations

import pytest

from replicas_mcp.delegation.answers import ANSWERS
from replicas_mcp.delegation.memory import PROCESS_MEMORY


@pytest.fixture(autouse=True)
def forget_process_memory() -> None:
    """What this process remembers per replica id (questions answered, tasks started, failure reasons)
    starts empty: every sandbox is seeded alike, so replica, chat and tool-call ids repeat from test to test,
    and a question another test answered would otherwise count as answered here."""
    PROCESS_MEMORY.clear()
    ANSWERS.clear()
