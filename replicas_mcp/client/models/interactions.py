"""Is the agent waiting for the user? Derived from the contract's history, not from a REST flag.

In the contract, an agent waits for input when it made an interactive tool call (AskUserQuestion,
ExitPlanMode) that is not resolved yet: the event stream's chat summary says `awaitingInput: true`,
`processing` stays true, and the history shows the pending tool call. The REST chat list has no such
flag, so a reader that did not watch the stream finds the question here: `pending_interaction(events)`
walks a chat's history and returns the newest interactive call that has neither a tool result nor a
later user message after it.

Both history shapes are read: the contract's (`HistoryEvent.payload` is a whole `AgentEvent`, which has
its own `payload`) and the flatter one where `payload` is the provider's message itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Literal

from pydantic import Field

from replicas_mcp.client.models._base import ApiModel
from replicas_mcp.client.models.chats import HistoryEvent, ReplicaChat

__all__ = [
    "INTERACTIVE_TOOLS",
    "ChatState",
    "PendingInteraction",
    "interactive_kind",
    "mappings_in",
    "pending_interaction",
]

# Tool names (lowercased, without '_' and '-') whose call pauses the agent until the user answers.
INTERACTIVE_TOOLS = frozenset({"askuserquestion", "exitplanmode", "askuser", "requestuserinput"})
_PLAN_TOOL = "exitplanmode"  # the one that asks for a plan's approval rather than a question
_MAX_DEPTH = 8
_TEXT_LIMIT = 2000


def _tool_key(name: object) -> str:
    return name.lower().replace("_", "").replace("-", "") if isinstance(name, str) else ""


def interactive_kind(name: object) -> Literal["ask", "plan"] | None:
    """ "plan" for a tool call asking to approve a plan (ExitPlanMode), "ask" for one asking a question
    (AskUserQuestion and the like, in any case and separators), None for any other tool."""
    key = _tool_key(name)
    if key not in INTERACTIVE_TOOLS:
        return None
    return "plan" if key == _PLAN_TOOL else "ask"


class PendingInteraction(ApiModel):
    """An interactive tool call the agent is paused on: `tool` (e.g. AskUserQuestion), its `input`."""

    tool: str
    call_id: str | None = None
    input: dict[str, Any] = Field(default_factory=dict)
    timestamp: str | None = None

    @property
    def text(self) -> str:
        """What the user is asked: the question(s), or the plan to approve (ExitPlanMode)."""
        parts: list[str] = []
        single = self.input.get("question")
        if isinstance(single, str) and single.strip():
            parts.append(single.strip())
        many = self.input.get("questions")
        for item in many if isinstance(many, list) else []:
            text = item.get("question") if isinstance(item, Mapping) else item
            if isinstance(text, str) and text.strip():
                parts.append(text.strip())
        plan = self.input.get("plan")
        if not parts and isinstance(plan, str) and plan.strip():
            parts.append(plan.strip())
        return "\n".join(parts)[:_TEXT_LIMIT]


class ChatState(ApiModel):
    """A chat and whether its agent waits for the user (see `client.chats.states`)."""

    chat: ReplicaChat
    awaiting_input: bool = False
    pending: PendingInteraction | None = None


def mappings_in(node: Any, depth: int = 0) -> Iterator[Mapping[str, Any]]:
    """Every mapping inside `node` (a provider's event, any envelope), depth first, in document order, at
    most `_MAX_DEPTH` levels down."""
    if depth > _MAX_DEPTH:
        return
    if isinstance(node, Mapping):
        yield node
        for value in node.values():
            yield from mappings_in(value, depth + 1)
    elif isinstance(node, list):
        for item in node:
            yield from mappings_in(item, depth + 1)


def _call_input(node: Mapping[str, Any]) -> dict[str, Any]:
    raw = node.get("input", node.get("arguments"))
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError:
            return {"text": raw}
    return dict(raw) if isinstance(raw, Mapping) else {}


def _result_id(node: Mapping[str, Any]) -> str | None:
    """The call id a node answers, if it is a tool result (Claude, Codex and the other providers)."""
    for key in ("tool_use_id", "call_id"):
        if isinstance(node.get(key), str) and (key == "tool_use_id" or "output" in node):
            return str(node[key])
    if isinstance(node.get("id"), str) and ("output" in node or node.get("done") is True):
        return str(node["id"])
    return None


# Blocks that carry a tool's output: what is inside (a tool_result's content may be an array of text
# blocks, contract `ToolResultBlock`) is the tool's, never words the user typed.
_TOOL_OUTPUT_TYPES = frozenset({"tool_result", "function_call_output"})


def _outside_tool_results(node: Any, depth: int = 0) -> Iterator[Mapping[str, Any]]:
    """`mappings_in`, without descending into tool output blocks."""
    if depth > _MAX_DEPTH:
        return
    if isinstance(node, Mapping):
        yield node
        if node.get("type") in _TOOL_OUTPUT_TYPES:
            return
        for value in node.values():
            yield from _outside_tool_results(value, depth + 1)
    elif isinstance(node, list):
        for item in node:
            yield from _outside_tool_results(item, depth + 1)


def _is_user_message(event: HistoryEvent) -> bool:
    """A message the user typed (which answers any question asked before it), not a tool result.

    Claude: a `claude-user` event (or `type: user` payload) with a text block; Codex: a `user_message`;
    other providers: an event type ending in `-user`, or a `role: user` message with text.
    """
    nodes = list(_outside_tool_results({"type": event.type, "payload": event.payload}))
    kinds = {node["type"] for node in nodes if isinstance(node.get("type"), str)}
    if "user_message" in kinds:
        return True
    if kinds & {"claude-user", "user"}:
        return "text" in kinds
    if any(kind.endswith("-user") for kind in kinds):
        return True
    for node in nodes:
        content = node.get("content")
        if node.get("role") == "user" and (
            isinstance(content, str)
            or (
                isinstance(content, list)
                and any(isinstance(b, Mapping) and b.get("type") == "text" for b in content)
            )
        ):
            return True
    return False


def pending_interaction(events: Iterable[HistoryEvent]) -> PendingInteraction | None:
    """The newest unresolved interactive tool call in `events` (oldest first), or None.

    A call is resolved by its tool result, or by a user message after it (the answer sent as a message).
    """
    pending: list[PendingInteraction] = []
    for event in events:
        if _is_user_message(event):
            pending.clear()
            continue
        for node in mappings_in(event.payload):
            answered = _result_id(node)
            if answered is not None:
                pending = [call for call in pending if call.call_id != answered]
                continue
            name = node.get("name", node.get("tool"))
            if interactive_kind(name) is not None:
                call_id = node.get("id", node.get("call_id"))
                pending.append(
                    PendingInteraction(
                        tool=str(name),
                        call_id=call_id if isinstance(call_id, str) else None,
                        input=_call_input(node),
                        timestamp=event.timestamp,
                    )
                )
    return pending[-1] if pending else None
