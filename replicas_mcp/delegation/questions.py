"""Finding the questions an agent asked the user, in any provider's event shape.

Agents ask through a tool (Claude's `AskUserQuestion`, similar tools elsewhere) whose input carries a
`question` or a list of `questions`. Rather than knowing every provider's envelope, walk the event and look
for a tool call with such a name; its input may be an object or a JSON string (Codex `arguments`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

ASK_TOOLS = frozenset({"askuserquestion", "ask_user_question", "ask_user", "askuser", "request_user_input"})
QUESTION_LIMIT = 300
_MAX_DEPTH = 8


def _normalized(name: Any) -> str:
    return name.replace("-", "_").lower() if isinstance(name, str) else ""


def _texts(tool_input: Any) -> list[str]:
    if isinstance(tool_input, str):
        try:
            tool_input = json.loads(tool_input)
        except ValueError:
            return []
    if not isinstance(tool_input, Mapping):
        return []
    found: list[str] = []
    single = tool_input.get("question")
    if isinstance(single, str) and single.strip():
        found.append(single.strip()[:QUESTION_LIMIT])
    many = tool_input.get("questions")
    for item in many if isinstance(many, list) else []:
        text = item.get("question") if isinstance(item, Mapping) else item
        if isinstance(text, str) and text.strip():
            found.append(text.strip()[:QUESTION_LIMIT])
    return found


def questions_in(node: Any, depth: int = 0) -> list[str]:
    """Every question asked through an ask-the-user tool call anywhere inside `node`."""
    if depth > _MAX_DEPTH:
        return []
    if isinstance(node, list):
        return [q for item in node for q in questions_in(item, depth + 1)]
    if not isinstance(node, Mapping):
        return []
    name = _normalized(node.get("name") or node.get("tool"))
    if name in ASK_TOOLS or name.replace("_", "") in ASK_TOOLS:
        asked = _texts(node.get("input", node.get("arguments")))
        if asked:
            return asked
    return [q for value in node.values() for q in questions_in(value, depth + 1)]
