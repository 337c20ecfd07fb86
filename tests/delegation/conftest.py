"""Fixtures for the delegation tests."""

from __future__ import annotations

import pytest

from replicas_mcp.server.toolsets import delegation as tools_module

from .helpers import FAST


@pytest.fixture
def fast_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """The delegation tools wait with the fast policy (tests/delegation/helpers.FAST)."""
    monkeypatch.setattr(tools_module, "POLICY", FAST)


@pytest.fixture(params=["guide", "contract"])
def sandbox_wake_reads(request: pytest.FixtureRequest) -> str:
    """Every delegation test runs under both documents' answer to a read of a sleeping workspace: the
    guide's 409 and the contract's 200 with `waking: true` (which wakes it: the product must not read)."""
    return str(request.param)
