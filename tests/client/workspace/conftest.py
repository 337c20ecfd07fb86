"""Fixtures of the workspace client tests: the client against its own sandbox over real loopback HTTP.

The sandbox is strict (the vendor contract's fields and rules only) and every test runs under both
documents' answers to a sleeping workspace's reads (the guide's 409, the contract's 200 with
`waking: true`). The sandbox's organization key here is a canary: no exception text, repr or log record
of any test in this package may contain it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator

import pytest

from replicas_mcp.client import ReplicasClient
from replicas_mcp.sandbox.fidelity import WakeReads
from replicas_mcp.sandbox.serve import RunningSandbox, running_sandbox
from replicas_mcp.sandbox.world import DEFAULT_ORG_NAME, DEFAULT_OTHER_ORG_KEY, DEFAULT_OTHER_ORG_NAME, ApiKey

from ..client_helpers import CANARY_KEY
from .helpers import TIME_SCALE


@pytest.fixture(params=["guide", "contract"])
def wake_reads(request: pytest.FixtureRequest) -> WakeReads:
    """How reads of a sleeping workspace are answered: the guide's 409 or the contract's 200 + waking."""
    value: WakeReads = request.param
    return value


@pytest.fixture
def replay() -> bool:
    """Whether the sandbox resumes event streams after `Last-Event-ID`: not by default (neither the guide
    nor the contract promises it); a test of the replaying case parametrizes this fixture with True."""
    return False


@pytest.fixture
async def canary_sandbox(wake_reads: WakeReads, replay: bool) -> AsyncIterator[RunningSandbox]:
    """A strict sandbox of its own whose organization key is the canary (the shared fixture's is not)."""
    keys = (
        ApiKey(CANARY_KEY, DEFAULT_ORG_NAME, "org"),
        ApiKey(DEFAULT_OTHER_ORG_KEY, DEFAULT_OTHER_ORG_NAME, "org"),
    )
    async with running_sandbox(
        time_scale=TIME_SCALE, keys=keys, strict=True, wake_reads=wake_reads, replay=replay
    ) as running:
        yield running


@pytest.fixture
async def client(canary_sandbox: RunningSandbox) -> AsyncIterator[ReplicasClient]:
    async with ReplicasClient(api_key=CANARY_KEY, base_url=canary_sandbox.base_url, timeout=5.0) as api:
        api.replicas.reconcile_delays = (0.0, 0.05)
        yield api


@pytest.fixture(autouse=True)
def canary_never_leaks(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Capture every log record at DEBUG and check none of them carries the key."""
    caplog.set_level(logging.DEBUG)
    yield
    for record in caplog.records:
        rendered = record.getMessage() + (record.exc_text or "")
        assert CANARY_KEY not in rendered, f"{record.name} logged the API key"
