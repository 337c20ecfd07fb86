"""Hints that name only tools this server serves: the selection (toolsets, allow/deny lists, --read-only)
decides which next steps a model may be told about.

Text written once (descriptions, argument descriptions, instructions, prompts) is adapted when the server is
built: `adapt` drops each sentence or clause that names a tool the selection does not serve, and filters a
`Next: a, b.` list down to the served tools (dropping it when none is left). Results and errors, built per
call, ask `served(ctx)` which tools exist and pick their next step with `Served.first`.

The one workflow every hint leads to: `delegate_task` → `wait_for_replica` → `get_replica_result` →
`send_replica_message`.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel

from replicas_mcp.server.safety import FENCED, redact
from replicas_mcp.server.state import AppState, context_in

if TYPE_CHECKING:
    from replicas_mcp.config import Settings
    from replicas_mcp.server.tools import ToolSelection, ToolSpec


@dataclass(frozen=True)
class Served:
    """The tools a server serves, and whether it is read-only."""

    names: frozenset[str]
    read_only: bool = False

    def has(self, name: str) -> bool:
        return name in self.names

    def first(self, *names: str) -> str | None:
        """The first of these tools that is served (or None)."""
        return next((name for name in names if name in self.names), None)

    def adapt(self, text: str) -> str:
        adapted = adapt(text, self.names)
        if self.read_only and "wake=true" in adapted:  # a read-only server never wakes a replica
            adapted = _drop_sentences(adapted, lambda sentence: "wake=true" in sentence)
        return adapted


@functools.cache
def known_tools() -> frozenset[str]:
    from replicas_mcp.server.tools import all_tools

    return frozenset(spec.name for spec in all_tools())


@functools.cache
def _tool_pattern() -> re.Pattern[str]:
    names = sorted(known_tools(), key=len, reverse=True)
    return re.compile(r"\b(" + "|".join(map(re.escape, names)) + r")\b")


def tools_named(text: str) -> set[str]:
    """The tool names a text mentions (whole words only: `get_replica` is not in `get_replica_result`)."""
    return set(_tool_pattern().findall(text))


@functools.cache
def _served_for(selection: ToolSelection) -> Served:
    from replicas_mcp.server.tools import select_tools

    return Served(frozenset(spec.name for spec in select_tools(selection)), selection.read_only)


def served_by(settings: Settings) -> Served:
    """What a server with these settings serves."""
    from replicas_mcp.server.tools import ToolSelection

    selection = ToolSelection(
        toolsets=tuple(settings.toolsets),
        allow=tuple(settings.tools),
        deny=tuple(settings.exclude_tools),
        read_only=settings.read_only,
    )
    return _served_for(selection)


def served(ctx: Any) -> Served:
    """What the server handling this request serves (everything, when there is no request context)."""
    try:
        state = ctx.request_context.lifespan_context
    except (AttributeError, ValueError):
        state = None
    if not isinstance(state, AppState):
        return Served(known_tools())
    return served_by(state.settings)


def served_in(arguments: Mapping[str, Any] | None) -> Served:
    """`served` for the request whose Context is among a tool call's arguments."""
    ctx = context_in(arguments or {})
    return served(ctx) if ctx is not None else Served(known_tools())


# --- adapting written text ----------------------------------------------------------------------------

_PARENTHETICAL = re.compile(r"\s*\([^()]*\)")
_NEXT = re.compile(r"^(Next:\s*)(.*?)([.]?)$", re.DOTALL)


def _filter_next(prefix: str, items: str, end: str, served: frozenset[str]) -> str:
    kept = [item for item in re.split(r",\s*|\s+or\s+", items) if tools_named(item) <= served]
    return f"{prefix}{', '.join(kept)}{end}" if kept else ""


def _adapt_sentence(sentence: str, served: frozenset[str]) -> str:
    if tools_named(sentence) <= served:
        return sentence
    head = _NEXT.match(sentence)
    if head:
        return _filter_next(head.group(1), head.group(2), head.group(3), served)
    without = _PARENTHETICAL.sub(lambda m: m.group(0) if tools_named(m.group(0)) <= served else "", sentence)
    return without if tools_named(without) <= served else ""


def adapt(text: str, served: Iterable[str]) -> str:
    """`text` without the sentences (or clauses, parentheticals, `Next:` items) naming unserved tools.
    Fenced text (someone else's words) is left as it is."""
    names = frozenset(served)
    if tools_named(text) <= names:
        return text
    pieces = FENCED.split(text)
    if len(pieces) > 1:  # [text, fence, marker, text, fence, marker, ..., text]
        out = []
        for i in range(0, len(pieces), 3):
            out.append(_adapt_plain(pieces[i], names) if pieces[i].strip() else pieces[i])
            if i + 1 < len(pieces):
                out.append(pieces[i + 1])
        return "".join(out)
    return _adapt_plain(text, names)


def _logical_lines(text: str) -> list[str]:
    """Lines as a reader takes them: a hard-wrapped sentence continues on the next line (joined with a
    space); a line ending a sentence, a blank line, a list item or a `Next:` line starts a new one."""
    lines: list[str] = []
    for raw in text.split("\n"):
        starts_new = not raw.strip() or re.match(r"\s*(?:[-*•]|\d+\.|Next:|\[)", raw) is not None
        # "Next:" at a line's end continues on the next line: its list must be filtered together with it.
        open_ended = not re.search(r"[.;:!?)\]]$", lines[-1]) if lines else False
        continued = open_ended or (bool(lines) and lines[-1].rstrip().endswith("Next:"))
        if lines and lines[-1].strip() and not starts_new and continued:
            lines[-1] += " " + raw.strip()
        else:
            lines.append(raw)
    return lines


def _sentences(line: str) -> list[tuple[str, str]]:
    """(sentence, the space after it): split after `.`, `;`, `!`, `?` outside parentheses."""
    out: list[tuple[str, str]] = []
    depth = 0
    start = 0
    i = 0
    while i < len(line):
        ch = line[i]
        depth += (ch == "(") - (ch == ")")
        if ch in ".;!?" and depth <= 0 and i + 1 < len(line) and line[i + 1].isspace():
            end = i + 1
            while end < len(line) and line[end].isspace():
                end += 1
            out.append((line[start : i + 1], line[i + 1 : end]))
            start = i = end
            continue
        i += 1
    if start < len(line):
        out.append((line[start:], ""))
    return out


def _rebuild(text: str, keep: Callable[[str], str]) -> str:
    lines = []
    for line in _logical_lines(text):
        out = ""
        gap = ""
        for sentence, after in _sentences(line):
            kept = keep(sentence)
            if kept:
                out += (gap if out else "") + kept
                gap = after or " "
        if out.endswith(";"):  # the clause that followed was dropped
            out = out[:-1] + "."
        if out or not line.strip():
            lines.append(out)
    return "\n".join(lines)


def _adapt_plain(text: str, names: frozenset[str]) -> str:
    if tools_named(text) <= names:
        return text
    return _rebuild(text, lambda sentence: _adapt_sentence(sentence, names))


def _drop_sentences(text: str, unwanted: Callable[[str], bool]) -> str:
    return _rebuild(text, lambda sentence: "" if unwanted(sentence) else sentence)


_ADAPTED_FIELDS = ("next", "note", "notes", "report", "news")  # fenced parts are left as they are


def _adapt_fields(result: Any, served: Served) -> None:
    """Adapt the hint fields of a result model, and of the models it lists (rows of a wait)."""
    if not isinstance(result, BaseModel):
        return
    for name in _ADAPTED_FIELDS:
        value = getattr(result, name, None)
        if isinstance(value, str):
            setattr(result, name, served.adapt(value))
        elif isinstance(value, list) and all(isinstance(item, str) for item in value):
            setattr(result, name, [adapted for item in value if (adapted := served.adapt(item))])
    for name in type(result).model_fields:
        value = getattr(result, name, None)
        if isinstance(value, list):
            for item in value:
                _adapt_fields(item, served)


def _secrets(kwargs: Mapping[str, Any]) -> tuple[str, ...]:
    ctx = context_in(kwargs)
    return tuple(getattr(ctx.request_context.lifespan_context, "secrets", ())) if ctx else ()


def adapting(spec: ToolSpec, served: Served) -> ToolSpec:
    """The spec with its results' hints (`next`, `note`, `notes`) and its errors adapted to what is served.

    Client errors are left to the tool wrapper (which also tells the client's log about outages); the
    `ToolError` it makes from them is adapted in `errors.tool_error`.
    """
    body = spec.fn

    @functools.wraps(body)
    async def call(**kwargs: Any) -> Any:
        try:
            result = await body(**kwargs)
        except ToolError as exc:  # client errors are adapted where they become ToolErrors (errors.py)
            raise ToolError(redact(served.adapt(str(exc)), _secrets(kwargs))) from None
        _adapt_fields(result, served)
        return result

    changes: dict[str, Any] = {"fn": call}
    question = getattr(spec, "question", None)
    if question is not None:  # a confirmation question may refuse a call with a next step too

        async def ask(pending: Any) -> Any:
            try:
                return await question(pending)
            except ToolError as exc:
                raise ToolError(served.adapt(str(exc))) from None

        changes["question"] = ask
    return dataclasses.replace(spec, **changes)


def adapt_tool(tool: Any, served: Served) -> Any:
    """An SDK `Tool` with its description and argument descriptions adapted to what is served."""
    tool.description = served.adapt(tool.description or "")
    adapt_schema(tool.parameters, served.names)
    wake = (tool.parameters.get("properties") or {}).get("wake")
    if served.read_only and isinstance(wake, dict):
        wake["description"] = "Ignored: a read-only server never wakes a replica"
    return tool


def adapt_schema(schema: Any, served: Iterable[str]) -> None:
    """Adapt every `description` in a JSON schema in place (an emptied one is removed)."""
    names = frozenset(served)
    if isinstance(schema, list):
        for item in schema:
            adapt_schema(item, names)
        return
    if not isinstance(schema, dict):
        return
    description = schema.get("description")
    if isinstance(description, str):
        adapted = adapt(description, names)
        if adapted:
            schema["description"] = adapted
        else:
            del schema["description"]
    for key, value in schema.items():
        if key != "description":
            adapt_schema(value, names)
