"""Finding the questions an agent asks the user, in any provider's event shape.

Agents ask through an interactive tool call: Claude's `AskUserQuestion` (input `question` or a list of
`questions`), `ExitPlanMode` (input `plan`: the plan awaits approval), similar tools elsewhere. Rather
than knowing every provider's envelope, walk the event and look for a tool call with such a name; its input
may be an object or a JSON string (Codex `arguments`).

- `questions_in(node)`: every question asked anywhere inside one event (a stream delta, a history event).
- `question_text(tool, input)`: what an interactive call asks, as one line for a model.
- `user_message_text(event_type, payload)`: the text of a message the user wrote, from a history event.

The question a chat is paused on at the end of its history (an interactive call with no tool result and no
user message after it) is found by the client's `pending_interaction`; `snapshot` words it with
`question_text`. Which tools are interactive, and the walk through an event, are the client's
(`interactive_kind`, `mappings_in`), so both find the same calls.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from replicas_mcp.client.models.interactions import interactive_kind, mappings_in

QUESTION_LIMIT = 300


def _kind(node: Mapping[str, Any]) -> str | None:
    """'ask' or 'plan' when `node` is an interactive tool call, else None."""
    return interactive_kind(node.get("name") or node.get("tool"))


def _input(node: Mapping[str, Any]) -> Mapping[str, Any]:
    tool_input = node.get("input", node.get("arguments"))
    if isinstance(tool_input, str):
        try:
            tool_input = json.loads(tool_input)
        except ValueError:
            return {}
    return tool_input if isinstance(tool_input, Mapping) else {}


def _texts(kind: str, tool_input: Mapping[str, Any]) -> list[str]:
    found: list[str] = []
    if kind == "plan":
        plan = tool_input.get("plan")
        summary = plan.strip() if isinstance(plan, str) else ""
        return [f"Approve this plan? {summary}"[:QUESTION_LIMIT] if summary else "Approve the plan?"]
    single = tool_input.get("question")
    if isinstance(single, str) and single.strip():
        found.append(single.strip()[:QUESTION_LIMIT])
    many = tool_input.get("questions")
    for item in many if isinstance(many, list) else []:
        text = item.get("question") if isinstance(item, Mapping) else item
        if isinstance(text, str) and text.strip():
            found.append(text.strip()[:QUESTION_LIMIT])
    return found


def question_text(tool: str, tool_input: Mapping[str, Any]) -> str:
    """What an interactive tool call asks the user, bounded (a plan to approve reads as a question)."""
    kind = interactive_kind(tool) or "ask"
    return " / ".join(_texts(kind, tool_input))[:QUESTION_LIMIT] or "(a question with no text)"


def questions_in(node: Any) -> list[str]:
    """Every question asked through an interactive tool call anywhere inside `node`."""
    found: list[str] = []
    for item in mappings_in(node):
        kind = _kind(item)
        if kind is not None:
            found += [text for text in _texts(kind, _input(item)) if text not in found]
    return found


def user_message_text(event_type: str, payload: Mapping[str, Any]) -> str | None:
    """The text of a history event that is a message the user wrote; None for anything else (a tool
    result delivered as a `user` event is not a user message)."""
    if event_type == "claude-user":
        message = payload.get("message")
        content = message.get("content") if isinstance(message, Mapping) else payload.get("text")
        if isinstance(content, str):
            return content
        blocks = content if isinstance(content, list) else []
        texts = [
            str(block.get("text") or "")
            for block in blocks
            if isinstance(block, Mapping) and block.get("type") == "text"
        ]
        return "\n".join(texts) if texts else None
    if event_type == "event_msg":
        text = payload.get("message")
        return str(text or "") if payload.get("type") == "user_message" else None
    if event_type == "response_item":
        if payload.get("type") != "message" or payload.get("role") != "user":
            return None
        parts = payload.get("content")
        return "\n".join(
            str(part.get("text") or "")
            for part in (parts if isinstance(parts, list) else [])
            if isinstance(part, Mapping)
        )
    suffix = event_type.split("-", 1)[1] if "-" in event_type else event_type
    if suffix == "user" or suffix.startswith("user"):
        text = payload.get("text") or payload.get("message") or ""
        return text if isinstance(text, str) else ""
    return None
