"""Turning provider-shaped history events (Claude, Codex, Cursor, Opencode, Pi) into a readable transcript.

One line (or short block) per event: `[time] role: text`. Tool inputs, tool outputs and thinking are
shortened; what the user and the agent said is kept whole. Unknown event shapes fall back to the first
text-like field, so a new provider degrades to a plainer transcript instead of an error. The result is still
untrusted text: callers fence it (see `safety.fence`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from replicas_mcp.server.safety import truncate

TOOL_LIMIT = 300
THINKING_LIMIT = 300
_TEXT_KEYS = ("text", "message", "result", "output", "content", "summary")


def _json(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    except (TypeError, ValueError):
        return str(value)


def _first_text(payload: Mapping[str, Any]) -> str:
    for key in _TEXT_KEYS:
        value = payload.get(key)
        if isinstance(value, str) and value.strip():
            return value
    return ""


def _blocks_text(content: Any) -> list[tuple[str, str]]:
    """Lines for a message's content: a string, or a list of typed blocks (Claude / Codex shapes)."""
    if isinstance(content, str):
        return [("text", content)]
    lines: list[tuple[str, str]] = []
    if not isinstance(content, list):
        return lines
    for block in content:
        if not isinstance(block, Mapping):
            continue
        kind = block.get("type")
        if kind in ("text", "output_text", "input_text"):
            lines.append(("text", str(block.get("text", ""))))
        elif kind in ("thinking", "reasoning"):
            lines.append(("thinking", str(block.get("thinking") or block.get("text") or "")))
        elif kind == "tool_use":
            lines.append(("tool call", f"{block.get('name')} {_json(block.get('input'))}"))
        elif kind == "tool_result":
            lines.append(("tool result", _json(block.get("content"))))
    return lines


def _claude(kind: str, payload: Mapping[str, Any]) -> list[tuple[str, str]]:
    if kind == "claude-result":
        outcome = "error" if payload.get("is_error") else "done"
        return [(f"turn {outcome}", _json(payload.get("result") or payload.get("errors") or ""))]
    if kind == "claude-system":
        return [("system", str(payload.get("subtype") or "event"))]
    message = payload.get("message")
    content = message.get("content") if isinstance(message, Mapping) else None
    speaker = "user" if kind == "claude-user" else "agent"
    return [(speaker if sub == "text" else sub, text) for sub, text in _blocks_text(content)]


def _codex(kind: str, payload: Mapping[str, Any]) -> list[tuple[str, str]]:
    sub = payload.get("type")
    if sub == "user_message":
        return [("user", _first_text(payload))]
    if sub in ("agent_reasoning", "reasoning"):
        return [("thinking", _first_text(payload))]
    if sub == "agent_message":
        return [("agent", _first_text(payload))]
    if sub == "function_call":
        return [("tool call", f"{payload.get('name')} {_json(payload.get('arguments'))}")]
    if sub == "function_call_output":
        return [("tool result", _json(payload.get("output")))]
    if sub == "message":
        speaker = "agent" if payload.get("role") == "assistant" else str(payload.get("role") or "message")
        return [(speaker if s == "text" else s, t) for s, t in _blocks_text(payload.get("content"))]
    text = _first_text(payload)
    return [(str(sub or kind), text)] if text else []


def _generic(kind: str, payload: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Cursor, Opencode, Pi and anything unknown: the role from the type's name, the text from the payload."""
    suffix = kind.split("-", 1)[1] if "-" in kind else kind
    text = _first_text(payload)
    if "user" in suffix:
        return [("user", text)]
    if "thinking" in suffix or "reasoning" in suffix or payload.get("kind") == "reasoning":
        return [("thinking", text)]
    if "tool" in suffix:
        if "output" in payload or payload.get("done"):
            return [("tool result", _json(payload.get("output", "")))]
        name = payload.get("name") or payload.get("tool") or "tool"
        return [("tool call", f"{name} {_json(payload.get('input', ''))}")]
    if "error" in suffix:
        return [("error", text or _json(dict(payload)))]
    if "status" in suffix or "idle" in suffix:
        status = payload.get("status") or suffix
        return [("turn", str(status))]
    if "assistant" in suffix or "text" in suffix or payload.get("kind") == "text":
        return [("agent", text)]
    return [(suffix, text)] if text else []


def event_lines(event_type: str, payload: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(role, text) pairs for one history event."""
    if event_type.startswith("claude-"):
        lines = _claude(event_type, payload)
    elif event_type in ("event_msg", "response_item") or event_type.startswith("codex-"):
        lines = _codex(event_type, payload)
    else:
        lines = _generic(event_type, payload)
    shortened: list[tuple[str, str]] = []
    for role, text in lines:
        if role in ("tool call", "tool result"):
            text = truncate(text, TOOL_LIMIT)
        elif role == "thinking":
            text = truncate(text, THINKING_LIMIT)
        if text.strip() or role.startswith("turn"):
            shortened.append((role, text.strip()))
    return shortened


def _clock(timestamp: str | None) -> str:
    """`2026-05-26T07:31:12.000Z` → `07:31:12`."""
    if timestamp and "T" in timestamp:
        return timestamp.split("T", 1)[1][:8]
    return timestamp or "--:--:--"


def _line(timestamp: str | None, role: str, text: str) -> str:
    return f"[{_clock(timestamp)}] {role}: {text}" if text else f"[{_clock(timestamp)}] {role}"


def render_events(events: Iterable[tuple[str | None, str, Mapping[str, Any]]]) -> list[str]:
    """Each event rendered, in order. A turn's result that repeats the agent's last words (Claude's
    `result` does) shows only `turn done`: the transcript says a thing once."""
    rendered: list[str] = []
    last_agent: str | None = None
    for timestamp, event_type, payload in events:
        lines: list[str] = []
        for role, text in event_lines(event_type, payload):
            if role.startswith("turn") and text and text == last_agent:
                text = ""
            if role == "agent":
                last_agent = text
            lines.append(_line(timestamp, role, text))
        rendered.append("\n".join(lines))
    return rendered


def fit_newest(rendered: list[str], max_chars: int) -> tuple[str, int]:
    """The newest rendered events that fit in `max_chars` (one longer than that is cut), oldest first,
    and how many events (counted from the newest) that covers."""
    kept: list[str] = []
    used = 0
    considered = 0
    for text in reversed(rendered):  # newest first, until the budget is spent
        if kept and used + len(text) + 1 > max_chars:
            break
        considered += 1
        if text:
            kept.append(text if len(text) <= max_chars else text[: max_chars - 40] + "… [event cut]")
            used += len(kept[-1]) + 1
    return "\n".join(reversed(kept)), considered
