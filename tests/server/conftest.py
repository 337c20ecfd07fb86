"""Fixtures for the server tests: every test on the `sandbox` fixture runs under both wake behaviours."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["guide", "contract"])
def sandbox_wake_reads(request: pytest.FixtureRequest) -> str:
    """Every test on the `sandbox` fixture runs under both documents' answer to a read of a sleeping
    workspace: the guide's 409 and the contract's 200 with `waking: true`, which starts a wake upstream (so
    a read that was not asked to wake must never reach a sleeping workspace's chats or history)."""
    return str(request.param)
