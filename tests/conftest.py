"""Shared fixtures: a real sandbox served on loopback for every test that asks for one."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
from hypothesis import settings

from replicas_mcp.sandbox.serve import RunningSandbox, running_sandbox

# CI draws the same property-test examples every run (no example database on a fresh clone, so random draws
# would make a rare failure flaky); local runs keep exploring new examples and remember failures.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

# Every simulated duration is multiplied by this: a one-second turn takes 50 ms, a boot 100 ms.
TEST_TIME_SCALE = 0.05


@pytest.fixture
async def sandbox() -> AsyncIterator[RunningSandbox]:
    """A fresh sandbox (seed 0, fast clock) on a free loopback port; `.base_url`, `.org_key`, `.faults`."""
    async with running_sandbox(seed=0, time_scale=TEST_TIME_SCALE) as running:
        yield running
