"""Shared fixtures: a real sandbox served on loopback for every test that asks for one."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from replicas_mcp.sandbox.serve import RunningSandbox, running_sandbox

# Every simulated duration is multiplied by this: a one-second turn takes 50 ms, a boot 100 ms.
TEST_TIME_SCALE = 0.05


@pytest.fixture
async def sandbox() -> AsyncIterator[RunningSandbox]:
    """A fresh sandbox (seed 0, fast clock) on a free loopback port; `.base_url`, `.org_key`, `.faults`."""
    async with running_sandbox(seed=0, time_scale=TEST_TIME_SCALE) as running:
        yield running
