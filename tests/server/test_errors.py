"""Every client error becomes a ToolError that says what happened and what to do next."""

from __future__ import annotations

import pytest

from replicas_mcp.client import errors as e
from replicas_mcp.sandbox.serve import RunningSandbox
from replicas_mcp.server.errors import describe, tool_error

from .helpers import call, call_error, connect, new_replica


@pytest.mark.parametrize(
    ("error", "args", "expected"),
    [
        (
            e.WorkspaceSleepingError("asleep", status=409),
            {"replica_id": "r1", "wake": False},
            ["get_replica with wake=true", "retry this call with wake=true"],
        ),
        (
            e.WorkspaceErrorStateError("dead", status=409),
            {"replica_id": "r1"},
            ["terminal", "delete_replica"],
        ),
        (e.RateLimitedError("slow down", status=429, retry_after=12), {}, ["retry after 12 s"]),
        (e.RateLimitedError("slow down", status=429), {}, ["wait about 30 s"]),
        (e.NotFoundError("Replica not found", status=404), {"replica_id": "r1"}, ["list_replicas"]),
        (e.NotFoundError("nope", status=404), {"automation_id": "a"}, ["list_automations"]),
        (e.AuthenticationError("bad key", status=401), {}, ["REPLICAS_API_KEY"]),
        (e.PermissionDeniedError("no", status=403), {}, ["Permission denied"]),
        (e.BadRequestError("name invalid", status=400, error="Invalid name"), {}, ["Invalid name", "Fix"]),
        (e.PayloadTooLargeError("big", status=413), {}, ["64 KB"]),
        (e.ServerError("boom", status=503, request_id="req_1"), {}, ["503", "req_1", "check before sending"]),
        (e.ConflictError("busy", status=409), {}, ["Conflict"]),
        (e.CreateOutcomeUnknownError("maybe", name="fix-x"), {}, ["fix-x", "list_replicas"]),
        (e.RequestTimeoutError("timeout"), {}, ["may still have taken effect"]),
        (e.ConnectError("refused"), {}, ["REPLICAS_BASE_URL"]),
        (e.StreamError("dropped"), {}, ["stream"]),
        (e.ConfigurationError("no key"), {}, ["REPLICAS_API_KEY"]),
    ],
)
def test_mapping(error: e.ReplicasError, args: dict[str, object], expected: list[str]) -> None:
    message = describe(error, args)
    for fragment in expected:
        assert fragment in message, (fragment, message)


def test_known_secret_never_reaches_the_message() -> None:
    leaked = e.BadRequestError("echo sk_test_canary_key_123", status=400)
    assert "sk_test_canary_key_123" not in str(tool_error(leaked, secrets=["sk_test_canary_key_123"]))


async def test_mapped_errors_over_mcp(sandbox: RunningSandbox) -> None:
    async with connect(sandbox) as client:
        assert "list_replicas" in await call_error(client, "get_replica", {"replica_id": "missing"})
        sandbox.world.faults.inject_status(429, route="/v1/replica", method="GET", retry_after=7)
        assert "retry after 7 s" in await call_error(client, "list_replicas")
        sandbox.world.faults.inject_status(500, route="/v1/replica", method="GET")
        assert "A read can be retried in a few seconds" in await call_error(client, "list_replicas")
    # A change is not retried by the client (a 5xx may come after the API acted): nor blindly by the model.
    async with connect(sandbox, toolsets=("environments",)) as client:
        sandbox.world.faults.inject_status(502, route="/v1/environments", method="POST")
        failed = await call_error(client, "save_environment", {"name": "staging"})
        assert "check before sending it again" in failed
    async with connect(sandbox, key="sk_wrong_key_for_test") as client:
        message = await call_error(client, "list_replicas")
        assert "REPLICAS_API_KEY" in message
        assert "sk_wrong_key_for_test" not in message


async def test_a_missing_canvas_item_points_at_list_canvas_items(sandbox: RunningSandbox) -> None:
    """The replica exists, the file does not: the valid filenames come from list_canvas_items."""
    async with connect(sandbox, toolsets=("replicas", "canvas")) as client:
        rid = await new_replica(client, "canvas-owner")
        missing = await call_error(client, "read_canvas_item", {"replica_id": rid, "filename": "gone.md"})
        assert "list_canvas_items" in missing
        assert "list_replicas" not in missing
        assert "gone.md" not in missing  # not-found errors never echo values
        assert missing.lower().count("canvas item") == 1  # the API's words, said once
        unknown = await call_error(client, "read_canvas_item", {"replica_id": "missing", "filename": "a.md"})
        assert "list_replicas" in unknown  # a missing replica still points at the replicas


async def test_terminal_replica(sandbox: RunningSandbox) -> None:
    from ..helpers import force_status

    async with connect(sandbox) as client:
        rid = await new_replica(client, "doomed")
        await force_status(sandbox, rid, "error")
        assert "delete_replica" in await call_error(client, "read_replica_history", {"replica_id": rid})


async def test_errors_name_tools_and_carry_the_ids_they_mention(sandbox: RunningSandbox) -> None:
    async with connect(sandbox, toolsets=("all",)) as client:
        first = await call(client, "save_environment", {"name": "twin"})
        existing = first.structured_content["id"] if first.structured_content else None
        duplicate = await call_error(client, "save_environment", {"name": "twin"})
        assert str(existing) in duplicate  # the existing id, and how to change it
        assert "environment_id=" in duplicate

        rid = await new_replica(client, "queue-owner")
        chats = await call(client, "list_chats", {"replica_id": rid})
        chat_id = chats.structured_content["chats"][0]["id"] if chats.structured_content else ""
        gone = await call_error(
            client,
            "edit_chat_queue",
            {"replica_id": rid, "chat_id": chat_id, "action": "remove", "message_id": "no-such-message"},
        )
        assert "get_chat_queue" in gone
        assert "list_chats" not in gone


def test_terminal_text_leads_to_delegate_task_not_create_replica() -> None:
    message = describe(e.WorkspaceErrorStateError("dead", status=409), {"replica_id": "r1"})
    assert "create_replica" not in message
    assert "delegate_task" in message


def test_upstream_rest_paths_become_tool_names() -> None:
    said = e.NotFoundError(
        "GET /v1/environments/x -> 404: Environment not found",
        status=404,
        error="Environment not found",
        details="Pass an environment id (see GET /v1/environments).",
    )
    message = describe(said, {"environment_id": "x"})
    assert "/v1/" not in message
    assert "GET " not in message
    assert "list_environments" in message


def test_not_found_is_said_once_and_points_at_what_was_missing() -> None:
    missing = e.NotFoundError(
        "Replica not found",
        status=404,
        error="Replica not found",
        details="No replica with id 'r-missing' here",
    )
    message = describe(missing, {"replica_id": "r-missing", "chat_id": "c-1"})
    assert message == (
        "Not found: no replica with that id here. Check the id: call list_replicas to see the valid ones."
    )
    chat = e.NotFoundError("Chat not found", status=404, error="Chat not found")
    assert "list_chats" in describe(chat, {"replica_id": "r-9", "chat_id": "c-1"})
