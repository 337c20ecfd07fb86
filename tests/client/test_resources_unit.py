"""Resource logic over a mock transport: create once + reconcile, paging, history from the end, waking."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

import httpx2
import pytest

from replicas_mcp.client.errors import (
    ConnectError,
    CreateOutcomeUnknownError,
    NotFoundError,
    RateLimitedError,
    WakeTimeoutError,
    WorkspaceErrorStateError,
)

from .client_helpers import MockClient, json_response, list_page, replica_item


def _just_now() -> str:
    """A replica's created_at as the API would write it for one made by the call under test."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def test_create_sends_the_version_header_and_the_given_fields(mock_client: MockClient) -> None:
    seen: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request)
        return json_response(201, {"replica": replica_item("r1", "fix-auth", "preparing")})

    async with mock_client(handler) as client:
        created = await client.replicas.create(
            name="fix-auth",
            message="Fix it",
            environment_id="env-1",
            webhook_url={"url": "https://hooks.test/x", "secret": "whsec_abc"},
            plan_mode=False,
        )
    assert created.status == "preparing"
    request = seen[0]
    assert request.headers["x-replicas-api-version"] == "2026-05-17"
    assert json.loads(request.read()) == {
        "name": "fix-auth",
        "message": "Fix it",
        "environment_id": "env-1",
        "webhook_url": {"url": "https://hooks.test/x", "secret": "whsec_abc"},
        "plan_mode": False,
    }


@pytest.mark.parametrize(
    "failure",
    [
        httpx2.ReadTimeout("late"),
        httpx2.RemoteProtocolError("dropped"),
        json_response(500, {"error": "boom"}),
        json_response(503, {"error": "busy"}, headers={"Retry-After": "1"}),
    ],
)
async def test_create_with_unknown_outcome_is_reconciled_not_resent(
    mock_client: MockClient, failure: httpx2.Response | Exception
) -> None:
    posts = 0

    def handler(request: httpx2.Request) -> httpx2.Response:
        nonlocal posts
        if request.method == "POST":
            posts += 1
            if isinstance(failure, Exception):
                raise failure
            return failure
        older = replica_item("old", "fix-auth", "sleeping", created_at="2026-01-01T00:00:00.000Z")
        newer = replica_item("new", "fix-auth", "preparing", created_at=_just_now())
        return json_response(200, list_page([replica_item("x", "other"), older, newer]))

    async with mock_client(handler) as client:
        found = await client.replicas.create(name="fix-auth", message="Fix it")
    assert found.id == "new"  # the newest replica with that name
    assert posts == 1


async def test_create_not_found_after_unknown_outcome(mock_client: MockClient) -> None:
    posts = 0

    def handler(request: httpx2.Request) -> httpx2.Response:
        nonlocal posts
        if request.method == "POST":
            posts += 1
            raise httpx2.ReadTimeout("late")
        return json_response(200, list_page([]))

    async with mock_client(handler) as client:
        client.replicas.reconcile_delays = (0.0, 0.0)
        with pytest.raises(CreateOutcomeUnknownError, match="not re-sent") as info:
            await client.replicas.create(name="ghost", message="hi")
    assert posts == 1
    assert info.value.name == "ghost"


async def test_create_that_never_reached_the_server_is_retried_then_raised(mock_client: MockClient) -> None:
    posts = 0

    def handler(request: httpx2.Request) -> httpx2.Response:
        nonlocal posts
        posts += 1
        raise httpx2.ConnectError("refused")

    async with mock_client(handler) as client:
        with pytest.raises(ConnectError):
            await client.replicas.create(name="n", message="m")
    assert posts == 3  # connect errors are provably unsent, so retrying is safe


async def test_create_429_is_not_reconciled(mock_client: MockClient) -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        assert request.method == "POST"
        return json_response(429, {"error": "slow down"})

    async with mock_client(handler) as client:
        with pytest.raises(RateLimitedError):
            await client.replicas.create(name="n", message="m")


async def test_iter_walks_every_page(mock_client: MockClient) -> None:
    pages: list[str] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        page = int(request.url.params["page"])
        pages.append(f"{page}:{request.url.params['limit']}:{request.url.params.get('status')}")
        items = [replica_item(f"r{page}{n}", f"n{page}{n}") for n in range(2 if page < 3 else 1)]
        return json_response(200, list_page(items, page=page, total_pages=3))

    async with mock_client(handler) as client:
        ids = [item.id async for item in client.replicas.iter(status="active", page_size=2)]
    assert ids == ["r10", "r11", "r20", "r21", "r30"]
    assert pages == ["1:2:active", "2:2:active", "3:2:active"]


def history_handler(
    events: list[int], grow_after_first: int = 0
) -> Callable[[httpx2.Request], httpx2.Response]:
    """A history of numbered events (oldest first) paged from the end, growing after the first read."""
    reads = 0

    def handler(request: httpx2.Request) -> httpx2.Response:
        nonlocal reads
        reads += 1
        if reads == 2:
            events.extend(range(len(events), len(events) + grow_after_first))
        limit, offset = int(request.url.params["limit"]), int(request.url.params["offset"])
        end = max(len(events) - offset, 0)
        start = max(end - limit, 0)
        page = [{"timestamp": f"t{n:03d}", "type": "e", "payload": {"n": n}} for n in events[start:end]]
        return json_response(200, {"events": page, "total": len(events), "has_more": start > 0})

    return handler


async def test_history_from_the_end(mock_client: MockClient) -> None:
    async with mock_client(history_handler(list(range(7)))) as client:
        numbers = [event.payload["n"] async for event in client.history.iter_from_end("r1", page_size=3)]
    assert numbers == [6, 5, 4, 3, 2, 1, 0]


async def test_history_from_the_end_while_it_grows(mock_client: MockClient) -> None:
    async with mock_client(history_handler(list(range(7)), grow_after_first=2)) as client:
        numbers = [event.payload["n"] async for event in client.history.iter_from_end("r1", page_size=3)]
    assert numbers == [6, 5, 4, 3, 2, 1, 0]  # the two new events are not mixed into the old ones


async def test_history_rejects_bad_paging(mock_client: MockClient) -> None:
    async with mock_client(lambda request: json_response(200, {})) as client:
        with pytest.raises(ValueError, match="limit"):
            await client.history.read("r1", limit=0)


def wake_handler(statuses: list[str]) -> Callable[[httpx2.Request], httpx2.Response]:
    def handler(request: httpx2.Request) -> httpx2.Response:
        if request.method == "POST":
            assert request.url.path == "/v1/replica/r1/wake"
            return json_response(200, {"success": True, "waking": True})
        status = statuses.pop(0) if len(statuses) > 1 else statuses[0]
        return json_response(200, list_page([replica_item("r1", "n", status)] if status != "gone" else []))

    return handler


async def test_wake_and_wait_polls_the_list_until_active(mock_client: MockClient) -> None:
    async with mock_client(wake_handler(["sleeping", "preparing", "active"])) as client:
        item = await client.replicas.wake_and_wait("r1", timeout=5, poll_interval=0.001)
    assert item.status == "active"


@pytest.mark.parametrize(
    ("statuses", "error_type"),
    [
        (["preparing", "error"], WorkspaceErrorStateError),
        (["gone"], NotFoundError),
        (["preparing"], WakeTimeoutError),
    ],
)
async def test_wake_and_wait_failures(
    mock_client: MockClient, statuses: list[str], error_type: type[Exception]
) -> None:
    async with mock_client(wake_handler(statuses)) as client:
        with pytest.raises(error_type):
            await client.replicas.wake_and_wait("r1", timeout=0.05, poll_interval=0.01)


async def test_get_rejects_unknown_includes(mock_client: MockClient) -> None:
    async with mock_client(lambda request: json_response(200, {})) as client:
        with pytest.raises(ValueError, match="include"):
            await client.replicas.get("r1", include=("secrets",))


async def test_create_503_asking_a_long_wait_is_still_reconciled(mock_client: MockClient) -> None:
    # A 503 may come after the server acted; asking to wait longer than the client will must not turn it
    # into the "provably not created" RateLimitedError.
    posts = 0

    def handler(request: httpx2.Request) -> httpx2.Response:
        nonlocal posts
        if request.method == "POST":
            posts += 1
            return json_response(503, {"error": "busy"}, headers={"Retry-After": "600"})
        return json_response(
            200, list_page([replica_item("made", "fix-auth", "preparing", created_at=_just_now())])
        )

    async with mock_client(handler) as client:
        found = await client.replicas.create(name="fix-auth", message="Fix it")
    assert found.id == "made"
    assert posts == 1


async def test_reconciliation_never_returns_an_older_replica_of_the_same_name(
    mock_client: MockClient,
) -> None:
    # A 500 that created nothing, while an old replica already carries the name: that one was not created
    # by this call (its task is another), so the outcome stays unknown instead of "found".
    def handler(request: httpx2.Request) -> httpx2.Response:
        if request.method == "POST":
            return json_response(500, {"error": "boom"})
        old = replica_item("old", "fix-auth", "sleeping", created_at="2026-01-01T00:00:00.000Z")
        return json_response(200, list_page([old]))

    async with mock_client(handler) as client:
        client.replicas.reconcile_delays = (0.0,)
        with pytest.raises(CreateOutcomeUnknownError):
            await client.replicas.create(name="fix-auth", message="Fix it")
