"""The simulated coding agent: what a turn says and does, decided from the message alone.

A turn is planned deterministically from the message text (same message, same reply), so tests can
assert on replies. Directives written inside a message let a test or demo ask for specific behaviour:

| directive              | effect                                                                       |
|------------------------|------------------------------------------------------------------------------|
| `[[pr]]`               | edit code and open a pull request on the first repository (if it has one)    |
| `[[canvas:markdown]]`  | drop a markdown note into the Canvas (`notes-<n>.md`)                         |
| `[[canvas:html]]`      | drop an HTML report into the Canvas (`report-<n>.html`)                       |
| `[[canvas:image]]`     | drop a real PNG screenshot into the Canvas (`screenshot-<n>.png`)             |
| `[[canvas:large]]`     | drop a 6 MB recording (`recording-<n>.mp4`): listed, but read as `tooLarge`   |
| `[[ask: <question>]]`  | end the turn by asking the user `<question>` (chat `awaitingInput: true`)     |
| `[[no-changes]]`       | answer without touching the code (no diff)                                    |
| `[[slow:<seconds>]]`   | the turn lasts `<seconds>` simulated seconds (scaled by the time scale)       |
| `[[turn-error]]`       | the turn fails (`claude-result` with `is_error`), the workspace stays active  |
| `[[error]]` / `[[error: <msg>]]` | the workspace dies mid-turn and enters the terminal `error` status   |
| `[[sleep]]`            | the workspace goes to sleep right after the turn                              |
| `[[fail-start-hook]]`  | the start hook fails (exit code 1) at the next boot or wake                   |
| `[[canvas-name: <n>]]` | the turn's first Canvas item is named `<n>` (any text, line breaks included)  |
| `[[branch: <name>]]`   | the turn moves the replica's repositories to branch `<name>` (any text)       |

Unknown directives are ignored (and left in the text), like any other text an agent would read.
"""

from __future__ import annotations

import base64
import hashlib
import re
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any, Literal

from replicas_mcp.sandbox.clock import Clock

CanvasKind = Literal["markdown", "html", "image", "video", "audio", "other"]

DEFAULT_TURN_SECONDS = 1.0
CANVAS_SIZE_CAP = 5 * 1024 * 1024
LARGE_CANVAS_BYTES = 6 * 1024 * 1024

_DIRECTIVE = re.compile(r"\[\[\s*([a-z][a-z-]*)\s*(?::\s*([^\]]*?))?\s*\]\]", re.IGNORECASE)
_CANVAS_KINDS = {"markdown", "html", "image", "large"}


@dataclass
class TurnPlan:
    """Everything a turn will say and do. Built by `plan_turn`, executed by the workspace state."""

    text: str  # the message without directives
    reply: str
    thinking: str
    seconds: float = DEFAULT_TURN_SECONDS
    edits_code: bool = True
    open_pr: bool = False
    has_repository: bool = True  # a workspace without one (the Global environment) can change no code
    canvas: list[str] = field(default_factory=list)  # "markdown" | "html" | "image" | "large"
    question: str | None = None
    turn_error: bool = False
    workspace_error: str | None = None
    sleep_after: bool = False
    fail_start_hook: bool = False
    # Names an agent chooses, for tests of how the server shows hostile ones (line breaks, fake "Next:").
    canvas_name: str | None = None
    branch: str | None = None


def strip_directives(message: str) -> str:
    return " ".join(_DIRECTIVE.sub(" ", message).split())


def plan_turn(message: str, *, has_repository: bool = True) -> TurnPlan:
    text = strip_directives(message)
    plan = TurnPlan(text=text, reply="", thinking="", has_repository=has_repository)
    for match in _DIRECTIVE.finditer(message):
        name = match.group(1).lower()
        argument = (match.group(2) or "").strip()
        if name == "pr":
            plan.open_pr = True
        elif name == "canvas" and argument.lower() in _CANVAS_KINDS:
            plan.canvas.append(argument.lower())
        elif name == "ask":
            plan.question = argument or "Which approach would you like me to take?"
        elif name == "no-changes":
            plan.edits_code = False
        elif name == "slow":
            plan.seconds = _seconds(argument, default=5.0)
        elif name == "turn-error":
            plan.turn_error = True
        elif name == "error":
            plan.workspace_error = argument or "The workspace sandbox ran out of memory (simulated)"
        elif name == "sleep":
            plan.sleep_after = True
        elif name == "fail-start-hook":
            plan.fail_start_hook = True
        elif name == "canvas-name" and argument:
            plan.canvas_name = argument
        elif name == "branch" and argument:
            plan.branch = argument
    if plan.question is not None and not plan.open_pr:
        plan.edits_code = False  # an agent that needs an answer first does not touch the code yet
    plan.thinking = f"The user asks: {_quote(text)}. Plan: read the relevant code, make the change, verify."
    plan.reply = _reply(plan)
    return plan


def plan_answer(task: str, answer: str, *, has_repository: bool = True) -> TurnPlan:
    """How a turn paused on a question goes on once `answer` arrives: the answer's directives apply."""
    plan = plan_turn(answer, has_repository=has_repository)
    plan.text = task
    plan.reply = _reply(plan)
    return plan


def contract_event(event: dict[str, Any]) -> dict[str, Any]:
    """The event without what the contract's AgentEvent does not name (Claude messages carry only content)."""
    payload = event.get("payload")
    if not str(event.get("type", "")).startswith("claude-") or not isinstance(payload, dict):
        return event
    message = payload.get("message")
    if not isinstance(message, dict) or "role" not in message:
        return event
    content_only = {key: value for key, value in message.items() if key != "role"}
    return event | {"payload": payload | {"message": content_only}}


def _seconds(argument: str, *, default: float) -> float:
    try:
        value = float(argument)
    except ValueError:
        return default
    return min(max(value, 0.0), 3600.0)


def _quote(text: str, limit: int = 80) -> str:
    short = text if len(text) <= limit else text[: limit - 1] + "…"
    return f"“{short}”" if short else "(an empty request)"


def _reply(plan: TurnPlan) -> str:
    digest = hashlib.sha256(plan.text.encode()).hexdigest()[:7]
    if plan.turn_error:
        return (
            f"I could not finish {_quote(plan.text)}: the test command crashed (simulated failure {digest})."
        )
    parts = [f"Done with {_quote(plan.text)}."]
    if not plan.has_repository:
        # Say what really happened: nothing was committed, and no PR is listed afterwards.
        if plan.open_pr:
            parts.append("I could not open a pull request because this workspace has no repository.")
        elif plan.edits_code:
            parts.append("I did not change any code because this workspace has no repository.")
        else:
            parts.append("I did not need to change any code.")
    elif plan.edits_code:
        parts.append(f"I changed the code and committed it (commit {digest}).")
    else:
        parts.append("I did not need to change any code.")
    if plan.open_pr and plan.has_repository:
        parts.append("I opened a pull request with the change.")
    if plan.canvas:
        parts.append(f"I put {len(plan.canvas)} item(s) in the Canvas.")
    if plan.question is not None:
        parts = [f"Before I start on {_quote(plan.text)}, I need to know: {plan.question}"]
    return " ".join(parts)


# --- provider-shaped agent events (HistoryEvent / AgentEvent) -------------------------------------------


def user_event(provider: str, text: str) -> dict[str, Any]:
    if provider == "codex":
        return _event("event_msg", {"type": "user_message", "message": text})
    if provider == "claude":
        return _claude_user([{"type": "text", "text": text}])
    return _event(f"{provider}-user", {"text": text})


def thinking_event(provider: str, text: str) -> dict[str, Any]:
    if provider == "claude":
        return _claude_assistant([{"type": "thinking", "text": text}])
    if provider == "codex":
        return _event("event_msg", {"type": "agent_reasoning", "text": text})
    if provider == "cursor":
        return _event("cursor-thinking", {"text": text})
    if provider == "opencode":
        return _event("opencode-part-reasoning", {"text": text})
    return _event("pi-message_update", {"kind": "reasoning", "text": text})


def tool_use_event(provider: str, tool_id: str, name: str, tool_input: dict[str, Any]) -> dict[str, Any]:
    if provider == "claude":
        return _claude_assistant([{"type": "tool_use", "id": tool_id, "name": name, "input": tool_input}])
    if provider == "codex":
        return _event(
            "response_item",
            {"type": "function_call", "call_id": tool_id, "name": name, "arguments": tool_input},
        )
    if provider == "cursor":
        return _event("cursor-tool_call", {"id": tool_id, "name": name, "input": tool_input})
    if provider == "opencode":
        return _event("opencode-part-tool", {"id": tool_id, "tool": name, "input": tool_input})
    return _event("pi-tool_execution_start", {"id": tool_id, "tool": name, "input": tool_input})


def tool_result_event(provider: str, tool_id: str, output: str) -> dict[str, Any]:
    if provider == "claude":
        return _claude_user(
            [{"type": "tool_result", "tool_use_id": tool_id, "content": output, "is_error": False}]
        )
    if provider == "codex":
        return _event("response_item", {"type": "function_call_output", "call_id": tool_id, "output": output})
    if provider == "cursor":
        return _event("cursor-tool_call", {"id": tool_id, "output": output, "done": True})
    if provider == "opencode":
        return _event("opencode-part-tool", {"id": tool_id, "output": output, "done": True})
    return _event("pi-tool_execution_end", {"id": tool_id, "output": output})


def assistant_text_event(provider: str, text: str) -> dict[str, Any]:
    if provider == "claude":
        return _claude_assistant([{"type": "text", "text": text}])
    if provider == "codex":
        return _event(
            "response_item",
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": text}]},
        )
    if provider == "cursor":
        return _event("cursor-assistant", {"text": text})
    if provider == "opencode":
        return _event("opencode-part-text", {"text": text})
    return _event("pi-message_update", {"kind": "text", "text": text})


def result_event(provider: str, text: str, *, is_error: bool) -> dict[str, Any] | None:
    """The provider's end-of-turn marker, for providers that have one."""
    if provider == "claude":
        payload: dict[str, Any] = {
            "type": "result",
            "subtype": "error" if is_error else "success",
            "is_error": is_error,
            "result": text,
        }
        if is_error:
            payload["errors"] = [text]
        return _event("claude-result", payload)
    if provider == "cursor":
        return _event("cursor-status", {"status": "error" if is_error else "completed"})
    if provider == "opencode":
        if is_error:
            return _event("opencode-error", {"message": text})
        return _event("opencode-session.idle", {})
    if provider == "pi" and is_error:
        return _event("pi-error", {"message": text})
    return None


def _event(kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    """One event in every provider's envelope: when, the provider's event type, its payload."""
    return {"timestamp": Clock.iso(), "type": kind, "payload": payload}


def _claude_user(content: list[dict[str, Any]]) -> dict[str, Any]:
    return _event(
        "claude-user",
        {"type": "user", "parent_tool_use_id": None, "message": {"role": "user", "content": content}},
    )


def _claude_assistant(content: list[dict[str, Any]]) -> dict[str, Any]:
    return _event(
        "claude-assistant",
        {
            "type": "assistant",
            "parent_tool_use_id": None,
            "message": {"role": "assistant", "content": content},
        },
    )


# --- what the agent writes ------------------------------------------------------------------------------


def code_change(repository: str, turn_number: int, request: str) -> tuple[str, int, int]:
    """A deterministic unified diff for one turn's edit: (diff text, lines added, lines removed)."""
    path = "src/sandbox_changes.py"
    added = [
        f"def change_{turn_number}() -> str:",
        f'    """{request[:60] or "requested change"}"""',
        f'    return "turn {turn_number} in {repository}"',
    ]
    removed = [f"# TODO turn {turn_number}"] if turn_number > 1 else []
    lines = [
        f"diff --git a/{path} b/{path}",
        f"--- a/{path}",
        f"+++ b/{path}",
        f"@@ -{turn_number},{len(removed)} +{turn_number},{len(added)} @@",
        *(f"-{line}" for line in removed),
        *(f"+{line}" for line in added),
    ]
    return "\n".join(lines) + "\n", len(added), len(removed)


@dataclass(frozen=True)
class CanvasFile:
    filename: str
    kind: CanvasKind
    mime_type: str
    size_bytes: int
    data: bytes | None  # None for items over the cap: never materialised

    def wire_item(self) -> dict[str, Any]:
        return {"filename": self.filename, "kind": self.kind, "sizeBytes": self.size_bytes}

    def wire_content(self) -> dict[str, Any]:
        body = self.wire_item() | {"mimeType": self.mime_type}
        if self.size_bytes > CANVAS_SIZE_CAP or self.data is None:
            return body | {"tooLarge": True}
        if self.kind in ("markdown", "html"):
            return body | {"content": self.data.decode("utf-8")}
        return body | {"base64": base64.b64encode(self.data).decode("ascii")}


def canvas_file(kind: str, number: int, request: str) -> CanvasFile:
    if kind == "markdown":
        checklist = "- [x] Read the code\n- [x] Made the change\n"
        text = f"# Notes {number}\n\nRequest: {request or '(none)'}\n\n{checklist}"
        data = text.encode()
        return CanvasFile(f"notes-{number}.md", "markdown", "text/markdown; charset=utf-8", len(data), data)
    if kind == "html":
        body = f"<h1>Report {number}</h1><p>All checks passed.</p>"
        data = f"<!doctype html><html><body>{body}</body></html>".encode()
        return CanvasFile(f"report-{number}.html", "html", "text/html; charset=utf-8", len(data), data)
    if kind == "image":
        data = png_image(32, 24, seed=number)
        return CanvasFile(f"screenshot-{number}.png", "image", "image/png", len(data), data)
    return CanvasFile(f"recording-{number}.mp4", "video", "video/mp4", LARGE_CANVAS_BYTES, None)


def png_image(width: int, height: int, *, seed: int = 0) -> bytes:
    """A real (valid, decodable) RGB PNG with a deterministic gradient."""
    rows = bytearray()
    for y in range(height):
        rows.append(0)  # filter type: none
        for x in range(width):
            rows += bytes(((x * 8 + seed * 40) % 256, (y * 10) % 256, (x * y + seed * 17) % 256))

    def chunk(tag: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(rows)))
        + chunk(b"IEND", b"")
    )
