"""Fixtures for the delegation tests."""

from __future__ import annotations

import pytest

from replicas_mcp.server.toolsets import delegation as tools_module

from .helpers import FAST


@pytest.fixture
def fast_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """The delegation tools wait with the fast policy (tests/delegation/helpers.FAST)."""
    monkeypatch.setattr(tools_module, "POLICY", FAST)
