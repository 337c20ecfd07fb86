"""Fixtures for the client tests: instant retries, a canary key, mock clients."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx2
import pytest
import stamina

from replicas_mcp.client import ReplicasClient

from .client_helpers import BASE_URL, CANARY_KEY, MockClient

Handler = Callable[[httpx2.Request], Any]


@pytest.fixture(autouse=True)
def instant_retries() -> Iterator[None]:
    """Retries keep their attempt counts, but every wait (backoff or Retry-After) is zero."""
    with stamina.set_testing(True, attempts=10, cap=True):
        yield


@pytest.fixture
def mock_client() -> MockClient:
    """Build a client whose requests go to `handler` (sync or async) instead of the network."""

    def build(handler: Handler, **kwargs: Any) -> ReplicasClient:
        return ReplicasClient(
            api_key=kwargs.pop("api_key", CANARY_KEY),
            base_url=kwargs.pop("base_url", BASE_URL),
            transport=httpx2.MockTransport(handler),
            **kwargs,
        )

    return build


@pytest.fixture(params=["guide", "contract"])
def sandbox_wake_reads(request: pytest.FixtureRequest) -> str:
    """Every test on the `sandbox` fixture runs under both documents' answer to a read of a sleeping
    workspace: the guide's 409 and the contract's 200 with `waking: true`, which starts a wake upstream (so
    a read that was not asked to wake must never reach a sleeping workspace's chats or history)."""
    return str(request.param)
