"""byo-key admission (attacker review s4 #3, #4): invented keys cannot queue unbounded upstream checks, cannot
make a real caller wait behind them, and are never let in because the API could not answer."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import anyio
import httpx2
import pytest

from replicas_mcp.sandbox.world import DEFAULT_ORG_KEY, DEFAULT_OTHER_ORG_KEY, DEFAULT_PERSONAL_KEY
from replicas_mcp.server import key_admission

from ..helpers import INITIALIZE, eventually
from .http_helpers import HeaderRecorder, http_server, post_mcp, recorded_sandbox


def _invented() -> str:
    return "sk_replicas_" + secrets.token_hex(12)


async def _initialize(http: httpx2.AsyncClient, url: str, key: str) -> httpx2.Response:
    return await post_mcp(http, url, INITIALIZE, Authorization=f"Bearer {key}")


def _checks_of(recorder: HeaderRecorder, keys: Iterator[str] | list[str]) -> int:
    wanted = set(keys)
    return sum(1 for _, path, key in recorder.requests if key in wanted and path == "/v1/replica")


async def test_new_keys_from_one_address_have_a_budget_before_any_upstream_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(key_admission, "UNKNOWN_KEYS_PER_SOURCE", 4)  # the real caller's first check is one
    async with (
        recorded_sandbox() as (sandbox, recorder),
        http_server(sandbox, auth="byo-key") as (url, _),
        httpx2.AsyncClient(timeout=30) as http,
    ):
        assert (await _initialize(http, url, DEFAULT_ORG_KEY)).status_code == 200  # a real caller, first
        invented = [_invented() for _ in range(5)]
        answers = [await _initialize(http, url, key) for key in invented]
        assert [answer.status_code for answer in answers] == [401, 401, 401, 429, 429]
        for answer in answers[3:]:
            assert int(answer.headers["retry-after"]) >= 1
            assert "Too many new API keys from this address" in answer.text
            assert "sk_replicas_" not in answer.text  # never echoes a key
        assert _checks_of(recorder, invented) == 3  # the rest cost no upstream request
        # A caller the API accepted before is not held to the budget of new keys.
        assert (await _initialize(http, url, DEFAULT_ORG_KEY)).status_code == 200


async def test_the_check_queue_is_bounded_and_a_known_caller_does_not_wait_behind_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(key_admission, "MAX_CONCURRENT_KEY_CHECKS", 1)
    monkeypatch.setattr(key_admission, "MAX_WAITING_KEY_CHECKS", 2)
    monkeypatch.setattr(key_admission, "ACCEPTED_TTL", 0.0)  # every accepted verdict is stale at once
    async with (
        recorded_sandbox() as (sandbox, recorder),
        http_server(sandbox, auth="byo-key") as (url, _),
        httpx2.AsyncClient(timeout=30) as http,
    ):
        assert (await _initialize(http, url, DEFAULT_ORG_KEY)).status_code == 200
        sandbox.faults.add_latency(3, route="/v1/replica", method="GET")  # key checks now take a while
        invented = [_invented() for _ in range(6)]
        statuses: list[int] = []
        refused: list[httpx2.Response] = []

        async def stranger(key: str) -> None:
            answer = await _initialize(http, url, key)
            statuses.append(answer.status_code)
            if answer.status_code == 503:
                refused.append(answer)

        async with anyio.create_task_group() as tasks:
            for key in invented:
                tasks.start_soon(stranger, key)

            async def three_refused() -> bool:
                return len(refused) == 3

            await eventually(three_refused)  # one check in flight, two waiting, the rest refused
            # The real caller's verdict is stale, but it was accepted before: it is served at once (its
            # re-check runs in the background), while the strangers' checks are still unanswered.
            assert (await _initialize(http, url, DEFAULT_ORG_KEY)).status_code == 200
            assert statuses.count(401) == 0
        assert sorted(statuses) == [401, 401, 401, 503, 503, 503]
        for answer in refused:
            assert int(answer.headers["retry-after"]) >= 1
            assert "Too many API keys are being checked" in answer.text
        assert _checks_of(recorder, invented) == 3


@pytest.mark.parametrize("status", [429, 503])
async def test_a_new_key_is_refused_while_the_api_cannot_say(
    monkeypatch: pytest.MonkeyPatch, status: int
) -> None:
    """Attacker review s4 #4: a 429 (which invented keys can provoke) or a 5xx from the key check let any
    well-shaped key in. Now only a key the API accepted before is admitted while it cannot say."""
    monkeypatch.setattr(key_admission, "ACCEPTED_TTL", 0.0)  # the known caller's verdict needs a re-check
    async with (
        recorded_sandbox() as (sandbox, _),
        http_server(sandbox, auth="byo-key") as (url, _),
        httpx2.AsyncClient(timeout=60) as http,
    ):
        assert (await _initialize(http, url, DEFAULT_ORG_KEY)).status_code == 200
        sandbox.faults.inject_status(status, route="/v1/replica", method="GET", times=None, retry_after=0)
        for key in (_invented(), DEFAULT_OTHER_ORG_KEY):  # a stranger, and a real key never seen before
            refused = await _initialize(http, url, key)
            assert refused.status_code == 503
            assert "mcp-session-id" not in refused.headers
            assert int(refused.headers["retry-after"]) >= 1
            assert "cannot confirm this API key right now" in refused.text
            assert key not in refused.text
        known = await _initialize(http, url, DEFAULT_ORG_KEY)  # accepted before: let in through the outage
        assert known.status_code == 200
        assert known.headers.get("mcp-session-id")
        sandbox.faults.clear()
        assert (await _initialize(http, url, DEFAULT_OTHER_ORG_KEY)).status_code == 200
        assert (await _initialize(http, url, _invented())).status_code == 401


async def test_requests_with_a_key_being_checked_share_its_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """A client opening many streams at once with its new key costs one check and one unit of the budget
    (each used to take its own, so one client at start spent its address's budget and locked out the next)."""
    monkeypatch.setattr(key_admission, "UNKNOWN_KEYS_PER_SOURCE", 2)
    async with (
        recorded_sandbox() as (sandbox, recorder),
        http_server(sandbox, auth="byo-key") as (url, _),
        httpx2.AsyncClient(timeout=30) as http,
    ):
        sandbox.faults.add_latency(1, route="/v1/replica", method="GET")  # the check takes a while
        statuses: list[int] = []

        async def opening() -> None:
            statuses.append((await _initialize(http, url, DEFAULT_OTHER_ORG_KEY)).status_code)

        async with anyio.create_task_group() as tasks:
            for _ in range(10):
                tasks.start_soon(opening)
        assert statuses == [200] * 10
        assert _checks_of(recorder, [DEFAULT_OTHER_ORG_KEY]) == 1
        assert (await _initialize(http, url, DEFAULT_PERSONAL_KEY)).status_code == 200  # budget left
