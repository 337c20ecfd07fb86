"""History events as the contract nests them: `HistoryEvent.payload` is a whole `AgentEvent` (timestamp,
type and the provider's payload again). Every reader of history must find the same texts in it as in the
flat shape: the task (first user message), the agent's final message and the transcript."""

from __future__ import annotations

from typing import Any

import pytest

from replicas_mcp.client.models import HistoryPage
from replicas_mcp.delegation.questions import user_message_text
from replicas_mcp.delegation.report import last_turn
from replicas_mcp.server.transcript import event_lines

TS = "2026-05-26T07:30:00.000Z"


def _claude(kind: str, text: str) -> dict[str, Any]:
    content = [{"type": "text", "text": text}]
    return {
        "timestamp": TS,
        "type": f"claude-{kind}",
        "payload": {"type": kind, "message": {"content": content}},
    }


PROVIDER_EVENTS: list[dict[str, Any]] = [
    _claude("user", "Write the docs"),
    _claude("assistant", "Docs written."),
    {"timestamp": TS, "type": "event_msg", "payload": {"type": "user_message", "message": "Also the tests"}},
]


def page(*, nested: bool) -> HistoryPage:
    events = [
        {"timestamp": e["timestamp"], "type": e["type"], "payload": e} if nested else e
        for e in PROVIDER_EVENTS
    ]
    return HistoryPage.model_validate(
        {"thread_id": None, "events": events, "total": len(events), "has_more": False}
    )


@pytest.mark.parametrize("nested", [True, False], ids=["contract-nesting", "flat-payload"])
def test_history_readers_see_the_same_texts_in_either_nesting(nested: bool) -> None:
    events = page(nested=nested).events
    assert [user_message_text(e.type, e.payload) for e in events] == [
        "Write the docs",
        None,
        "Also the tests",
    ]
    assert ("agent", "Docs written.") in event_lines(events[1].type, events[1].payload)
    assert last_turn(events[:2], event_lines).message == "Docs written."
