"""What the product needs, read from the vendor contract's fields only.

- a question the agent waits on: the history's pending interactive tool call (AskUserQuestion,
  ExitPlanMode) in either history nesting, and `client.chats.states` built on it;
- the event stream's chat summaries (`awaitingInput`, `processing`), status snapshot and error text;
- a failure's text from `config.provisioning_error` and the `replica.error` webhook;
- sleeping reads: the contract's 200 + `waking: true` and the guide's 409 both handled, `waking` kept;
- lifecycle policies from both documents passed through.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx2
import pytest

from replicas_mcp.client import ReplicasClient
from replicas_mcp.client.errors import WorkspaceSleepingError
from replicas_mcp.client.models import (
    ChatSummaries,
    EngineEvent,
    HistoryEvent,
    ReplicaDetails,
    WebhookEvent,
    pending_interaction,
)
from replicas_mcp.sandbox.serve import RunningSandbox

from .client_helpers import MockClient, json_response, list_page, replica_item

TS = "2026-05-26T07:30:00.000Z"


def claude(kind: str, content: list[dict[str, Any]], *, nested: bool) -> HistoryEvent:
    """A Claude history event as the contract has it (`message.content`, no `role`); `nested` is the
    contract's nesting (payload = a whole AgentEvent)."""
    message = {"type": kind.removeprefix("claude-"), "message": {"content": content}}
    payload = {"timestamp": TS, "type": kind, "payload": message} if nested else message
    return HistoryEvent(timestamp=TS, type=kind, payload=payload)


def ask(call_id: str, question: str, *, nested: bool = True) -> HistoryEvent:
    block = {
        "type": "tool_use",
        "id": call_id,
        "name": "AskUserQuestion",
        "input": {"questions": [{"question": question}]},
    }
    return claude("claude-assistant", [block], nested=nested)


def tool_result(call_id: str, *, nested: bool = True) -> HistoryEvent:
    return claude(
        "claude-user", [{"type": "tool_result", "tool_use_id": call_id, "content": "ok"}], nested=nested
    )


def user_text(text: str, *, nested: bool = True) -> HistoryEvent:
    return claude("claude-user", [{"type": "text", "text": text}], nested=nested)


@pytest.mark.parametrize("nested", [True, False], ids=["contract-nesting", "flat-payload"])
def test_a_pending_question_is_found_in_either_history_nesting(nested: bool) -> None:
    events = [user_text("Fix it", nested=nested), ask("toolu_1", "Which branch?", nested=nested)]
    pending = pending_interaction(events)
    assert pending is not None
    assert (pending.tool, pending.call_id, pending.text) == ("AskUserQuestion", "toolu_1", "Which branch?")


def test_a_question_is_no_longer_pending_once_answered() -> None:
    assert pending_interaction([ask("toolu_1", "Which branch?"), tool_result("toolu_1")]) is None
    assert pending_interaction([ask("toolu_1", "Which branch?"), user_text("main")]) is None
    # An answered call does not hide a newer one still waiting.
    later = pending_interaction([ask("a", "First?"), tool_result("a"), ask("b", "Second?")])
    assert later is not None
    assert later.text == "Second?"


@pytest.mark.parametrize("nested", [True, False], ids=["contract-nesting", "flat-payload"])
def test_another_tool_s_result_does_not_answer_a_pending_question(nested: bool) -> None:
    # A tool_result's content may be an array of text blocks (contract `ToolResultBlock`): it is still a
    # tool result, not a message the user typed, so the question asked beside that tool stays pending.
    both = claude(
        "claude-assistant",
        [
            {"type": "tool_use", "id": "q1", "name": "AskUserQuestion", "input": {"question": "Which db?"}},
            {"type": "tool_use", "id": "r1", "name": "Read", "input": {"file_path": "a.py"}},
        ],
        nested=nested,
    )
    read = claude(
        "claude-user",
        [{"type": "tool_result", "tool_use_id": "r1", "content": [{"type": "text", "text": "print(1)"}]}],
        nested=nested,
    )
    pending = pending_interaction([user_text("Fix it", nested=nested), both, read])
    assert pending is not None
    assert pending.call_id == "q1"


def test_plan_approval_and_codex_calls_count_as_waiting() -> None:
    plan = HistoryEvent(
        timestamp=TS,
        type="claude-assistant",
        payload={
            "message": {
                "content": [
                    {
                        "type": "tool_use",
                        "id": "p1",
                        "name": "ExitPlanMode",
                        "input": {"plan": "1. edit\n2. test"},
                    }
                ]
            }
        },
    )
    found = pending_interaction([plan])
    assert found is not None
    assert found.text == "1. edit\n2. test"
    codex = HistoryEvent(
        timestamp=TS,
        type="response_item",
        payload={
            "type": "function_call",
            "call_id": "c1",
            "name": "request_user_input",
            "arguments": json.dumps({"question": "Ship it?"}),
        },
    )
    answered = HistoryEvent(
        timestamp=TS,
        type="response_item",
        payload={"type": "function_call_output", "call_id": "c1", "output": "yes"},
    )
    assert pending_interaction([codex]) is not None
    assert pending_interaction([codex, answered]) is None
    edit = HistoryEvent(
        timestamp=TS,
        type="claude-assistant",
        payload={"message": {"content": [{"type": "tool_use", "id": "e", "name": "Edit", "input": {}}]}},
    )
    assert pending_interaction([edit]) is None


def chat(chat_id: str, *, processing: bool) -> dict[str, Any]:
    return {
        "id": chat_id,
        "provider": "claude",
        "title": "t",
        "created_at": TS,
        "updated_at": TS,
        "processing": processing,
    }


async def test_chat_states_read_the_history_of_processing_chats_only(mock_client: MockClient) -> None:
    seen: list[str] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        seen.append(f"{request.url.path}?{request.url.query.decode()}")
        if request.url.path.endswith("/chats"):
            return json_response(
                200, {"chats": [chat("busy", processing=True), chat("idle", processing=False)]}
            )
        events = [user_text("Fix it").model_dump(), ask("toolu_9", "Keep the old API?").model_dump()]
        return json_response(200, {"thread_id": None, "events": events, "total": 2, "has_more": False})

    async with mock_client(handler) as client:
        states = await client.chats.states("r1")
    by_id = {state.chat.id: state for state in states}
    assert by_id["busy"].awaiting_input
    assert by_id["busy"].pending is not None
    assert by_id["busy"].pending.text == "Keep the old API?"
    assert not by_id["idle"].awaiting_input
    assert seen == ["/v1/replica/r1/chats?", "/v1/replica/r1/history?chat_id=busy&limit=20&offset=0"]


def test_rest_chats_do_not_type_what_the_contract_does_not_have() -> None:
    from replicas_mcp.client.models import ReplicaChat

    lenient = ReplicaChat.model_validate({**chat("c", processing=False), "awaitingInput": True})
    assert "awaitingInput" not in ReplicaChat.model_fields
    assert (lenient.model_extra or {}).get("awaitingInput") is True  # kept, untyped

    details = ReplicaDetails.model_validate(
        {
            **replica_item("r1", "n", "error"),
            "error_message": "not in the contract",
            "chats": [chat("c", processing=True)],
        }
    )
    assert "error_message" not in ReplicaDetails.model_fields
    assert details.provisioning_error is None  # a top-level error_message is not read
    failed = ReplicaDetails.model_validate(
        {
            **replica_item("r1", "n", "error"),
            "config": {"provisioning_error": {"message": "clone failed: auth"}},
        }
    )
    assert failed.provisioning_error == "clone failed: auth"


def test_event_stream_chat_summaries_are_typed_and_folded() -> None:
    def summary(chat_id: str, **flags: bool) -> dict[str, Any]:
        return {
            "id": chat_id,
            "provider": "claude",
            "title": "t",
            "createdAt": TS,
            "updatedAt": TS,
            "parentChatId": None,
            **flags,
        }

    board = ChatSummaries()
    created = EngineEvent(id="1", type="chat.created", payload={"chat": summary("c1", processing=False)})
    asking = EngineEvent(
        id="2", type="chat.updated", payload={"chat": summary("c1", processing=True, awaitingInput=True)}
    )
    assert board.apply(created)
    assert board.apply(asking)
    assert not board.apply(asking)  # the same summary again changes nothing
    assert [c.id for c in board.awaiting_input()] == ["c1"]
    assert board.processing  # the contract: processing stays true while awaiting input
    assert board.apply(EngineEvent(id="3", type="chat.deleted", payload={"chatId": "c1"}))
    assert board.chats == {}
    status = EngineEvent(
        id="4", type="engine.status.changed", payload={"status": {"chatsProcessing": 2, "chatsTotal": 3}}
    )
    assert status.status_snapshot is not None
    assert status.status_snapshot.chatsProcessing == 2
    failure = EngineEvent(
        id="5", type="error", payload={"code": "workspace_error", "message": "OOM during build"}
    )
    assert failure.error_info is not None
    assert failure.error_info.message == "OOM during build"
    assert created.error_info is None
    assert failure.chat_summary is None


def test_the_replica_error_webhook_carries_the_failure_text() -> None:
    event = WebhookEvent.model_validate(
        {"id": "wh1", "type": "replica.error", "data": {"message": "sandbox died"}}
    )
    assert event.error_message == "sandbox died"
    assert WebhookEvent.model_validate({"id": "wh2", "type": "replica.ready"}).error_message is None


async def test_sleeping_reads_both_documents(mock_client: MockClient) -> None:
    mode = "contract"

    def handler(request: httpx2.Request) -> httpx2.Response:
        if request.url.path == "/v1/replica":
            return json_response(200, list_page([replica_item("r1", "n", "sleeping")]))
        if mode == "guide":
            return json_response(409, {"error": "Workspace is not active"})
        if request.url.path.endswith("/chats"):
            return json_response(200, {"chats": [], "waking": True})
        return json_response(
            200, {"thread_id": None, "events": [], "total": 0, "has_more": False, "waking": True}
        )

    async with mock_client(handler) as client:
        chats = await client.chats.list("r1")
        page = await client.history.read("r1")
        events = [event async for event in client.history.iter_from_end("r1")]
        assert (list(chats), chats.waking, page.waking, events) == ([], True, True, [])
        mode = "guide"
        with pytest.raises(WorkspaceSleepingError):
            await client.chats.list("r1")
        with pytest.raises(WorkspaceSleepingError):
            await client.history.read("r1")


@pytest.mark.parametrize(
    "policy", ["delete_when_done", "archive_when_done", "sleep_when_done", "a_future_policy"]
)
async def test_lifecycle_policies_of_both_documents_pass_through(
    mock_client: MockClient, policy: str
) -> None:
    bodies: list[Any] = []

    def handler(request: httpx2.Request) -> httpx2.Response:
        bodies.append(json.loads(request.content))
        return json_response(201, {"replica": replica_item("r1", "n", "preparing")})

    async with mock_client(handler) as client:
        with anyio.fail_after(5):
            await client.replicas.create(name="n", message="m", lifecycle_policy=policy)
    assert bodies == [{"name": "n", "message": "m", "lifecycle_policy": policy}]


async def test_chat_states_find_the_sandbox_agents_question_over_loopback(sandbox: RunningSandbox) -> None:
    async with ReplicasClient(api_key=sandbox.org_key, base_url=sandbox.base_url, timeout=5.0) as client:
        with anyio.fail_after(15):
            created = await client.replicas.create(
                environment_id="global", name="asks", message="Refactor it [[ask: Keep the v1 endpoint?]]"
            )
            while (item := await client.replicas.status(created.id)) is None or item.status != "active":
                await anyio.sleep(0.05)
            while True:
                states = await client.chats.states(created.id)  # the waiting chat keeps processing
                if any(state.awaiting_input for state in states):
                    break
                await anyio.sleep(0.05)
    waiting = [state for state in states if state.awaiting_input]
    assert len(waiting) == 1
    assert waiting[0].pending is not None
    assert waiting[0].pending.tool == "AskUserQuestion"
    assert waiting[0].pending.text == "Keep the v1 endpoint?"
