"""The HTTP core over a mock transport: paths, error mapping, retry policy, redirects, timeouts."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import anyio
import httpx2
import pytest

from replicas_mcp.client import ReplicasClient
from replicas_mcp.client._http import api_path, parse_retry_after
from replicas_mcp.client._retry import RetryPolicy
from replicas_mcp.client.errors import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    ConnectError,
    InvalidIdentifierError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitedError,
    RequestTimeoutError,
    ServerError,
    TransportError,
    WorkspaceErrorStateError,
    WorkspaceSleepingError,
)

from .client_helpers import CANARY_KEY, MockClient, json_response, list_page, replica_item

# --- paths -------------------------------------------------------------------------------------------


def test_api_path_encodes_every_segment() -> None:
    assert api_path("/v1/environments/{}/variables/{}", "env 1", "a/b?c#d") == (
        "/v1/environments/env%201/variables/a%2Fb%3Fc%23d"
    )


@pytest.mark.parametrize("bad", ["", ".", ".."])
def test_api_path_rejects_traversal_segments(bad: str) -> None:
    with pytest.raises(InvalidIdentifierError) as info:
        api_path("/v1/replica/{}", bad)
    assert isinstance(info.value, ValueError)


def test_api_path_checks_segment_count() -> None:
    with pytest.raises(ValueError, match="expects 2"):
        api_path("/v1/replica/{}/chats/{}", "x")


async def test_ids_cannot_escape_their_path(mock_client: MockClient) -> None:
    seen: list[str] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(request.url.raw_path.decode())
        return json_response(200, {"success": True})

    async with mock_client(handler) as client:
        await client.replicas.delete("../../v1/automations/x?force=1")
        with pytest.raises(InvalidIdentifierError):
            await client.replicas.delete("..")
    assert seen == ["/v1/replica/..%2F..%2Fv1%2Fautomations%2Fx%3Fforce%3D1"]


# --- auth, headers and the wire ------------------------------------------------------------------------


async def test_sends_bearer_key_and_json(mock_client: MockClient) -> None:
    captured: list[httpx2.Request] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        captured.append(request)
        return json_response(200, {"status": "sent", "message_id": "m1", "position": None, "chat_id": "c1"})

    async with mock_client(handler, headers={"X-Trace": "t"}) as client:
        result = await client.replicas.send_message("r1", "hello", chat_id="c1")
    assert result.status == "sent"
    assert result.chat_id == "c1"
    request = captured[0]
    assert request.headers["authorization"] == f"Bearer {CANARY_KEY}"
    assert request.headers["x-trace"] == "t"
    assert request.method == "POST"
    assert request.url.path == "/v1/replica/r1/messages"
    assert request.read() == b'{"message":"hello","chat_id":"c1"}'


async def test_with_api_key_shares_pool_but_changes_identity(mock_client: MockClient) -> None:
    keys: list[str] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        keys.append(request.headers["authorization"])
        return json_response(200, {"repositories": []})

    async with mock_client(handler) as client:
        other = client.with_api_key("sk_replicas_otheruser000000")
        await client.repositories.list()
        await other.repositories.list()
        await other.aclose()  # a view does not close the shared pool
        await client.repositories.list()
    assert keys == [f"Bearer {CANARY_KEY}", "Bearer sk_replicas_otheruser000000", f"Bearer {CANARY_KEY}"]
    assert "otheruser" not in repr(other)


async def test_redirects_are_not_followed(mock_client: MockClient) -> None:
    calls = 0

    def handler(request: httpx2.Request) -> httpx2.Response:
        nonlocal calls
        calls += 1
        return httpx2.Response(302, headers={"Location": "http://evil.test/steal"})

    async with mock_client(handler) as client:
        with pytest.raises(APIStatusError, match="redirect not followed") as info:
            await client.repositories.list()
    assert calls == 1
    assert info.value.status == 302


# --- error mapping --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (413, PayloadTooLargeError),
        (429, RateLimitedError),
        (500, ServerError),
        (502, ServerError),
    ],
)
async def test_status_errors_carry_the_envelope(
    mock_client: MockClient, status: int, error_type: type[Exception]
) -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return json_response(
            status, {"error": "Nope", "details": "because"}, headers={"X-Request-Id": "req-42"}
        )

    async with mock_client(handler, max_retries=0) as client:
        with pytest.raises(error_type) as info:
            await client.repositories.list()
    error = info.value
    assert getattr(error, "status", None) == status
    assert getattr(error, "error", None) == "Nope"
    assert getattr(error, "details", None) == "because"
    assert getattr(error, "request_id", None) == "req-42"
    assert "Nope" in str(error)
    assert "req-42" in repr(error)


async def test_non_json_error_body_is_quoted(mock_client: MockClient) -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(400, text="<html>bad gateway page</html>")

    async with mock_client(handler) as client:
        with pytest.raises(BadRequestError, match="bad gateway page"):
            await client.repositories.list()


@pytest.mark.parametrize(
    ("body", "error_type"),
    [
        ({"error": "Workspace is sleeping", "details": None}, WorkspaceSleepingError),
        ({"error": "Conflict", "details": "workspace is in error state"}, WorkspaceErrorStateError),
    ],
)
async def test_409_classified_from_body_text(
    mock_client: MockClient, body: dict[str, object], error_type: type[ConflictError]
) -> None:
    requests: list[str] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        requests.append(request.url.path)
        return json_response(409, body)

    async with mock_client(handler) as client:
        with pytest.raises(error_type):
            await client.chats.list("r1")
    assert requests == ["/v1/replica/r1/chats"]  # no lookup, no retry


@pytest.mark.parametrize(
    ("status", "error_type"),
    [("sleeping", WorkspaceSleepingError), ("error", WorkspaceErrorStateError), ("active", ConflictError)],
)
async def test_409_falls_back_to_list_status(
    mock_client: MockClient, status: str, error_type: type[ConflictError]
) -> None:
    requests: list[str] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        requests.append(f"{request.method} {request.url.path}")
        if request.url.path == "/v1/replica":
            return json_response(
                200, list_page([replica_item("other", "o"), replica_item("r1", "n", status)])
            )
        return json_response(409, {"error": "Conflict", "details": None})

    async with mock_client(handler) as client:
        with pytest.raises(error_type) as info:
            await client.history.read("r1")
    assert type(info.value) is error_type
    # The lookup uses the list endpoint only: GET /v1/replica/r1 would wake the workspace.
    assert requests == ["GET /v1/replica/r1/history", "GET /v1/replica"]


@pytest.mark.parametrize(
    ("status", "error_type"), [("sleeping", WorkspaceSleepingError), ("error", WorkspaceErrorStateError)]
)
async def test_409_whose_text_names_both_cases_asks_the_list(
    mock_client: MockClient, status: str, error_type: type[ConflictError]
) -> None:
    # The guide's own wording ("409 when the workspace is in sleeping or error") in a body says neither.
    def handler(request: httpx2.Request) -> httpx2.Response:
        if request.url.path == "/v1/replica":
            return json_response(200, list_page([replica_item("r1", "n", status)]))
        return json_response(409, {"error": "Workspace is sleeping or in error state"})

    async with mock_client(handler) as client:
        with pytest.raises(error_type) as info:
            await client.chats.list("r1")
    assert type(info.value) is error_type


async def test_409_outside_replica_paths_stays_generic(mock_client: MockClient) -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return json_response(409, {"error": "Environment is referenced by an automation"})

    async with mock_client(handler) as client:
        with pytest.raises(ConflictError) as info:
            await client._http.request_json("DELETE", "/v1/environments/e1")
    assert type(info.value) is ConflictError


# --- retries ---------------------------------------------------------------------------------------------


def sequence_handler(responses: list[httpx2.Response | Exception]) -> tuple[list[str], object]:
    calls: list[str] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        calls.append(request.method)
        item = responses[min(len(calls) - 1, len(responses) - 1)]
        if isinstance(item, Exception):
            raise item
        return item

    return calls, handler


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
async def test_get_retries_retryable_statuses(mock_client: MockClient, status: int) -> None:
    calls, handler = sequence_handler(
        [json_response(status, {"error": "x"}), json_response(200, {"repositories": []})]
    )
    async with mock_client(handler) as client:
        assert await client.repositories.list() == []
    assert len(calls) == 2


async def test_get_gives_up_after_two_retries(mock_client: MockClient) -> None:
    calls, handler = sequence_handler([json_response(503, {"error": "busy"})])
    async with mock_client(handler) as client:
        with pytest.raises(ServerError):
            await client.repositories.list()
    assert len(calls) == 3


async def test_each_retry_is_one_line_in_words_at_info(
    mock_client: MockClient, caplog: pytest.LogCaptureFixture
) -> None:
    """What is retried, why and when, from this client's logger; nothing from stamina's own hook (a bare
    `stamina.retry_scheduled` at WARNING, its details in fields no log format shows)."""
    caplog.set_level(logging.DEBUG)
    _, handler = sequence_handler([json_response(503, {"error": "busy"})])
    async with mock_client(handler) as client:
        with pytest.raises(ServerError):
            await client.repositories.list()
    assert not [r for r in caplog.records if r.name.startswith("stamina")]
    retries = [r for r in caplog.records if "retrying in" in r.getMessage()]
    assert [r.levelno for r in retries] == [logging.INFO, logging.INFO]
    assert "GET /v1/replica/repositories" in retries[0].getMessage()
    assert "503" in retries[0].getMessage()
    assert "(retry 1 of 2)" in retries[0].getMessage()
    assert "(retry 2 of 2)" in retries[1].getMessage()


async def test_max_retries_is_configurable(mock_client: MockClient) -> None:
    calls, handler = sequence_handler([json_response(500, {"error": "boom"})])
    async with mock_client(handler, max_retries=0) as client:
        with pytest.raises(ServerError):
            await client.repositories.list()
    assert len(calls) == 1


@pytest.mark.parametrize(
    "exc",
    [httpx2.ConnectError("refused"), httpx2.ReadTimeout("slow"), httpx2.RemoteProtocolError("dropped")],
)
async def test_get_retries_transport_failures(mock_client: MockClient, exc: Exception) -> None:
    calls, handler = sequence_handler([exc, json_response(200, {"repositories": []})])
    async with mock_client(handler) as client:
        assert await client.repositories.list() == []
    assert len(calls) == 2


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_post_does_not_retry_server_errors(mock_client: MockClient, status: int) -> None:
    calls, handler = sequence_handler([json_response(status, {"error": "x"})])
    async with mock_client(handler) as client:
        with pytest.raises(ServerError):
            await client.chats.create("r1", provider="claude")
    assert len(calls) == 1


async def test_post_does_not_retry_timeouts(mock_client: MockClient) -> None:
    calls, handler = sequence_handler([httpx2.ReadTimeout("slow")])
    async with mock_client(handler) as client:
        with pytest.raises(RequestTimeoutError):
            await client.chats.create("r1", provider="claude")
    assert len(calls) == 1


async def test_post_retries_connect_errors(mock_client: MockClient) -> None:
    chat = {"id": "c1", "provider": "claude", "processing": False}
    calls, handler = sequence_handler([httpx2.ConnectError("refused"), json_response(201, chat)])
    async with mock_client(handler) as client:
        assert (await client.chats.create("r1", provider="claude")).id == "c1"
    assert len(calls) == 2


async def test_post_retries_a_429_with_retry_after(mock_client: MockClient) -> None:
    chat = {"id": "c1", "provider": "claude", "processing": False}
    calls, handler = sequence_handler(
        [
            json_response(429, {"error": "slow down"}, headers={"Retry-After": "2"}),
            json_response(201, chat),
        ]
    )
    async with mock_client(handler) as client:
        assert (await client.chats.create("r1", provider="claude")).id == "c1"
    assert len(calls) == 2


SIDE_EFFECTS: list[tuple[str, Callable[[ReplicasClient], Awaitable[object]]]] = [
    ("message", lambda client: client.replicas.send_message("r1", "hello")),
    ("trigger", lambda client: client.automations.trigger("a1")),
    ("chat create", lambda client: client.chats.create("r1", provider="claude")),
    ("queue reorder", lambda client: client.queue.reorder("r1", "c1", "m1", 0)),
    ("delete", lambda client: client.replicas.delete("r1")),
]


@pytest.mark.parametrize("retry_after", [None, "1"], ids=["plain", "retry-after"])
@pytest.mark.parametrize("status", [500, 502, 503, 504])
@pytest.mark.parametrize(("what", "call"), SIDE_EFFECTS, ids=[what for what, _ in SIDE_EFFECTS])
async def test_a_request_with_side_effects_is_never_retried_on_a_5xx(
    mock_client: MockClient,
    what: str,
    call: Callable[[ReplicasClient], Awaitable[object]],
    status: int,
    retry_after: str | None,
) -> None:
    """Neither the guide nor the contract says a 5xx means the server did not act (team decision): a retry
    could deliver a message twice, run an automation again, or turn a delete that happened into a 404."""
    headers = {"Retry-After": retry_after} if retry_after else None
    calls, handler = sequence_handler([json_response(status, {"error": "busy"}, headers=headers)])
    async with mock_client(handler) as client:
        with pytest.raises(APIStatusError) as info:
            await call(client)
    assert len(calls) == 1, what
    assert info.value.status == status


@pytest.mark.parametrize(("what", "call"), SIDE_EFFECTS, ids=[what for what, _ in SIDE_EFFECTS])
async def test_a_request_with_side_effects_is_not_retried_after_a_dropped_connection(
    mock_client: MockClient, what: str, call: Callable[[ReplicasClient], Awaitable[object]]
) -> None:
    calls, handler = sequence_handler([httpx2.RemoteProtocolError("peer closed connection")])
    async with mock_client(handler) as client:
        with pytest.raises(TransportError):
            await call(client)
    assert len(calls) == 1, what


async def test_patch_429_without_retry_after_is_not_retried(mock_client: MockClient) -> None:
    calls, handler = sequence_handler([json_response(429, {"error": "slow down"})])
    async with mock_client(handler) as client:
        with pytest.raises(RateLimitedError) as info:
            await client.queue.reorder("r1", "c1", "m1", 0)
    assert len(calls) == 1
    assert info.value.retry_after is None


@pytest.mark.parametrize("status", [429, 503])
async def test_retry_after_beyond_cap_raises_with_the_wait(mock_client: MockClient, status: int) -> None:
    calls, handler = sequence_handler(
        [json_response(status, {"error": "later"}, headers={"Retry-After": "120"})]
    )
    async with mock_client(handler, max_retry_after=30.0) as client:
        with pytest.raises(RateLimitedError) as info:
            await client.repositories.list()
    assert len(calls) == 1
    assert info.value.retry_after == 120.0
    assert info.value.status == status


async def test_409_is_never_retried(mock_client: MockClient) -> None:
    calls, handler = sequence_handler([json_response(409, {"error": "Workspace is sleeping"})])
    async with mock_client(handler) as client:
        with pytest.raises(WorkspaceSleepingError):
            await client.replicas.delete("r1")
    assert len(calls) == 1


def test_policy_returns_retry_after_as_the_wait() -> None:
    decide = RetryPolicy().hook_for("POST", started=__import__("time").monotonic())
    error = RateLimitedError("x", status=429, retry_after=2.5)
    assert decide(error) == 2.5
    assert decide(RateLimitedError("x", status=429, retry_after=31.0)) is False
    assert decide(ServerError("x", status=500)) is False
    assert decide(ConnectError("x")) is True
    assert decide(TransportError("dropped")) is False


def test_policy_respects_the_deadline() -> None:
    decide = RetryPolicy(deadline=5.0).hook_for("GET", started=__import__("time").monotonic())
    assert decide(RateLimitedError("x", status=429, retry_after=10.0)) is False
    assert decide(RateLimitedError("x", status=429, retry_after=1.0)) == 1.0


def test_parse_retry_after_forms() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == 10.0
    assert parse_retry_after("-5") == 0.0


async def test_connect_timeout_is_capped(mock_client: MockClient) -> None:
    from replicas_mcp.client.errors import ConfigurationError

    with pytest.raises(ConfigurationError):
        mock_client(lambda r: json_response(200, {}), connect_timeout=10.0)


async def test_unreachable_server_raises_connect_error() -> None:
    async with ReplicasClient(api_key=CANARY_KEY, base_url="http://127.0.0.1:9", max_retries=1) as client:
        with anyio.fail_after(10), pytest.raises(ConnectError) as info:
            await client.repositories.list()
    assert CANARY_KEY not in str(info.value) + repr(info.value)
