"""What observed facts mean (phase, wait_over) and the question a chat's history shows it paused on."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from replicas_mcp.client.models import HistoryEvent
from replicas_mcp.client.models.interactions import pending_interaction
from replicas_mcp.delegation.failures import provisioning_error, remember_failure
from replicas_mcp.delegation.memory import LocalMemory
from replicas_mcp.delegation.phase import ChatFacts, State, phase, wait_over
from replicas_mcp.delegation.questions import questions_in, user_message_text
from replicas_mcp.delegation.report import outcome_of
from replicas_mcp.delegation.snapshot import question_in_history
from replicas_mcp.sandbox.workspaces import agent

IDLE = ChatFacts(processing=False)
BUSY = ChatFacts(processing=True)
ASKING = ChatFacts(processing=True, awaiting_input=True, question="Tabs?")


@pytest.mark.parametrize(
    ("status", "chats", "expected"),
    [
        ("active", [IDLE], "idle"),
        ("active", [], "idle"),
        ("active", [BUSY], "working"),
        ("active", None, "working"),  # awake, nobody looked yet
        ("active", [ChatFacts(processing=None)], "working"),  # a turn ended, what follows not known
        ("active", [ChatFacts(processing=False, queued=1)], "working"),  # something still queued
        ("active", [ASKING], "waiting_for_input"),
        ("active", [ASKING, BUSY], "waiting_for_input"),  # a question blocks: report it first
        ("active", [ChatFacts(processing=True, awaiting_input=True, queued=1)], "working"),  # answer queued
        ("preparing", None, "preparing"),
        ("sleeping", [BUSY], "sleeping"),
        ("archived", None, "archived"),
        ("error", None, "error"),
        ("deleted", None, "deleted"),
        (None, None, "unknown"),
    ],
)
def test_phase_from_status_and_chats(
    status: str | None, chats: list[ChatFacts] | None, expected: str
) -> None:
    assert phase(status, chats) == expected


def test_the_default_wait_is_over_only_when_nothing_is_left_for_the_agent() -> None:
    assert wait_over("idle", "idle")
    assert wait_over("idle", "waiting_for_input")
    assert not wait_over("idle", "working", turns_ended=True)  # a turn ended, more is queued or running
    assert wait_over("turn_completed", "working", turns_ended=True)
    assert wait_over("turn_completed", "idle")
    assert not wait_over("turn_completed", "working")
    assert wait_over("needs_input", "waiting_for_input")
    assert not wait_over("needs_input", "idle")
    assert wait_over("pr_opened", "working", new_prs=True)
    assert not wait_over("any_event", "idle")
    assert wait_over("any_event", "working", changed=True)


def _history(*events: dict[str, Any] | None) -> list[HistoryEvent]:
    """History events as the sandbox's agents write them."""
    return [HistoryEvent.model_validate(event) for event in events if event is not None]


@pytest.mark.parametrize("provider", ["claude", "codex", "cursor", "opencode", "pi"])
def test_a_pending_question_is_found_in_every_providers_history(provider: str) -> None:
    asked = _history(
        agent.user_event(provider, "Fix the bug"),
        agent.tool_use_event(provider, "t1", "Edit", {"file_path": "a.py"}),
        agent.tool_result_event(provider, "t1", "ok"),
        agent.tool_use_event(provider, "t2", "AskUserQuestion", {"question": "Which status code?"}),
        agent.assistant_text_event(provider, "I need to know which status code."),
    )
    assert question_in_history(asked) == "Which status code?"
    answered = [*asked, *_history(agent.tool_result_event(provider, "t2", "404"))]
    assert question_in_history(answered) is None
    replied = [*asked, *_history(agent.user_event(provider, "Use 404"))]
    assert question_in_history(replied) is None
    assert question_in_history(_history(agent.user_event(provider, "Hi"))) is None


def test_a_plan_awaiting_approval_is_a_question() -> None:
    events = _history(
        agent.user_event("claude", "/plan Refactor"),
        agent.tool_use_event("claude", "t1", "ExitPlanMode", {"plan": "1. Split the module"}),
    )
    assert question_in_history(events) == "Approve this plan? 1. Split the module"


@pytest.mark.parametrize("provider", ["claude", "codex", "cursor", "opencode", "pi"])
def test_the_users_messages_are_read_from_history_and_tool_results_are_not(provider: str) -> None:
    result = agent.tool_result_event(provider, "t1", "ok")
    assert result is not None
    assert user_message_text(result["type"], result["payload"]) is None
    message = agent.user_event(provider, "Hello there")
    assert user_message_text(message["type"], message["payload"]) == "Hello there"


@pytest.mark.parametrize(
    ("state", "turn_failed", "outcome"),
    [
        ("idle", False, "completed"),
        ("idle", True, "failed"),
        ("waiting_for_input", False, "waiting_for_input"),
        ("working", False, "working"),
        ("preparing", False, "working"),
        ("sleeping", False, "sleeping"),
        ("archived", False, "sleeping"),
        ("error", False, "failed"),
    ],
)
def test_the_reports_outcome_follows_the_phase(state: State, turn_failed: bool, outcome: str) -> None:
    assert outcome_of(state, turn_failed) == outcome


async def test_failure_reasons_are_bounded_and_config_provisioning_errors_are_read() -> None:
    memory = LocalMemory({"task": 2, "environment": 2, "failure": 2})
    for n in range(3):
        await remember_failure(memory, f"r{n}", f"  reason {n}  ")
    assert [await memory.recall("failure", f"r{n}") for n in range(3)] == [None, "reason 1", "reason 2"]
    await remember_failure(memory, "r2", "   ")  # nothing said: the reason known stays
    assert await memory.recall("failure", "r2") == "reason 2"
    assert provisioning_error({"config": {"provisioning_error": {"message": "clone failed: 403"}}}) == (
        "clone failed: 403"
    )
    assert provisioning_error({"config": {}}) is None
    assert provisioning_error(None) is None


_chat_facts = st.builds(
    ChatFacts,
    processing=st.sampled_from([True, False, None]),
    awaiting_input=st.booleans(),
    queued=st.integers(min_value=0, max_value=3),
)


@given(chats=st.lists(_chat_facts, max_size=4), turns_ended=st.booleans())
def test_a_default_wait_is_never_done_while_a_message_is_queued_or_a_turn_runs(
    chats: list[ChatFacts], turns_ended: bool
) -> None:
    state = phase("active", chats)
    if wait_over("idle", state, turns_ended=turns_ended):
        assert sum(chat.queued for chat in chats) == 0 or state == "waiting_for_input"
        assert state == "waiting_for_input" or all(chat.processing is False for chat in chats)
        if state == "waiting_for_input":  # paused on a question nobody answered, nothing queued behind it
            assert any(chat.awaiting_input and not chat.queued for chat in chats)


@pytest.mark.parametrize(
    "tool",
    ["AskUserQuestion", "ask_user_question", "ask-user", "RequestUserInput", "request_user_input", "Bash"],
)
def test_the_stream_and_the_history_agree_on_which_tool_calls_ask(tool: str) -> None:
    """`questions_in` (a live event) and the client's `pending_interaction` (a chat's history) read one
    list of interactive tools: a call asks in both, or in neither."""
    call = {"type": "tool_use", "id": "call-1", "name": tool, "input": {"question": "Which port?"}}
    payload = {"type": "assistant", "message": {"content": [call]}}
    asks_live = questions_in(payload) == ["Which port?"]
    history = [HistoryEvent(type="claude-assistant", timestamp="2026-01-01T00:00:00Z", payload=payload)]
    asks_in_history = pending_interaction(history) is not None
    assert asks_live == asks_in_history == (tool != "Bash")
