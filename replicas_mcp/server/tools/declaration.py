"""A tool, declared once: its toolset, title, annotations, time bound and confirmation question.

A toolset module (`replicas_mcp/server/toolsets/*.py`) declares its tools on a `ToolGroup`; everything the
server needs to know about a tool is in that one decorator call and the function under it (see
docs/adding-a-tool.md). The rest of `server/tools/` reads these declarations: `selection` picks the tools
to serve, `wrapper` runs them, `schema` shapes what `tools/list` publishes and `sdk` hands them to the SDK.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from mcp.types import CallToolResult, ToolAnnotations
from pydantic import BaseModel

from replicas_mcp.server.safety import clean_name, clean_text, truncate
from replicas_mcp.server.state import ToolContext, client_of
from replicas_mcp.server.tools.arguments import Resolved, id_arguments, resolved_arguments

if TYPE_CHECKING:
    from replicas_mcp.client import ReplicasClient

# Toolsets, in the order they are documented; `all` selects every one of them.
TOOLSETS: dict[str, str] = {
    "replicas": "Delegate and wait; workspaces: list, inspect, create, message, history, delete (default).",
    "chats": "Chats inside a replica and their message queues.",
    "canvas": "Files the agent drops into a replica's canvas.",
    "hooks": "Warm/start hook logs of a replica.",
    "environments": "Environments: CRUD, variables, files, skills, MCPs, hooks, warm pool.",
    "automations": "Scheduled and event-triggered automations and their executions.",
}

DEFAULT_TIMEOUT = 120.0
_QUOTE_LIMIT = 120  # how much of one argument a question quotes

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


class ToolResult(BaseModel):
    """Base of tool results: the model is the output schema; the text the model reads is `to_text()`.

    The default text is compact JSON without nulls. Override `to_text` for results that read better as text
    (transcripts, logs), and fence remote-agent text there.
    """

    def to_text(self) -> str:
        return self.model_dump_json(exclude_none=True)


@dataclass(frozen=True)
class PendingCall:
    """A call about to run, as its confirmation question sees it: validated arguments and the caller."""

    tool: str
    arguments: Mapping[str, Any]
    ctx: ToolContext | None = None
    api: ReplicasClient | None = None  # instead of the request's (tests, tools run outside a request)

    def quote(self, name: str) -> str:
        """An argument as a question shows it: cleaned of invisible characters and shortened."""
        return truncate(clean_text(str(self.arguments.get(name, "?"))), _QUOTE_LIMIT)

    @property
    def client(self) -> ReplicasClient:
        """The caller's client, for a question that reads the current state first."""
        if self.api is not None:
            return self.api
        if self.ctx is None:
            raise RuntimeError(f"the question of {self.tool} reads upstream state, which needs a request")
        return client_of(self.ctx)


def named(name: str | None, ident: str) -> str:
    """A thing as a question names it, `tiny (cd613e30-…)`: its name beside its id (both cleaned)."""
    shown = truncate(clean_text(ident), _QUOTE_LIMIT)
    return f"{clean_name(name, _QUOTE_LIMIT)} ({shown})" if name else shown


# The question to ask the user before a call runs, or None when this call needs no consent. It may read the
# current state (to show what would be replaced), and raises `ToolError` when the call would fail anyway:
# nobody is asked to approve a call that cannot succeed.
Question = Callable[[PendingCall], Awaitable[str | None]]


async def generic_question(call: PendingCall) -> str | None:
    """For a destructive tool declared without a question: still confirmed, never silently skipped."""
    shown = ", ".join(f"{name}={call.quote(name)}" for name in sorted(call.arguments))
    return f"Run {call.tool}({shown})? It changes or deletes data and cannot be undone."


@dataclass(frozen=True)
class ToolSpec:
    """One tool, declared once."""

    name: str
    toolset: str
    title: str
    description: str
    fn: Callable[..., Awaitable[Any]]
    read_only: bool
    destructive: bool
    idempotent: bool
    open_world: bool
    timeout: float
    question: Question | None = None  # None: never asks
    id_args: frozenset[str] = frozenset()  # arguments typed as ids (`server.args.Id`), checked for shape
    # Arguments resolved before the call (an environment's name to its id: `tools.arguments.Resolved`).
    resolved_args: tuple[tuple[str, Resolved], ...] = ()

    def annotations(self) -> ToolAnnotations:
        return ToolAnnotations(
            read_only_hint=self.read_only,
            # The hints below are meaningful only for tools that change something.
            destructive_hint=None if self.read_only else self.destructive,
            idempotent_hint=None if self.read_only else self.idempotent,
            open_world_hint=self.open_world,
        )


@dataclass
class ToolGroup:
    """The tools one module contributes to one toolset."""

    toolset: str
    specs: list[ToolSpec] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.toolset not in TOOLSETS:
            raise ValueError(f"unknown toolset {self.toolset!r}; known: {', '.join(TOOLSETS)}")

    def tool(
        self,
        *,
        title: str,
        read_only: bool,
        destructive: bool = False,
        idempotent: bool = False,
        open_world: bool = True,
        name: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        confirm: Question | None = None,
    ) -> Callable[[F], F]:
        """Declare a tool. The docstring is its description (written for a model).

        `confirm`: the question to put to the user before a call (see `Question`); a destructive tool
        without one is confirmed with a generic question. A read-only tool never asks.
        """
        if read_only and (destructive or confirm is not None):
            raise ValueError("a read-only tool cannot be destructive or ask for confirmation")

        def register(fn: F) -> F:
            _check_return_type(fn)
            description = inspect.cleandoc(fn.__doc__ or "")
            if not description:
                raise ValueError(f"tool {fn.__name__} needs a docstring: it is the model's description")
            self.specs.append(
                ToolSpec(
                    name=name or fn.__name__,
                    toolset=self.toolset,
                    title=title,
                    description=description,
                    fn=fn,
                    read_only=read_only,
                    destructive=destructive,
                    idempotent=read_only or idempotent,
                    open_world=open_world,
                    timeout=timeout,
                    question=confirm or (generic_question if destructive else None),
                    id_args=id_arguments(fn),
                    resolved_args=resolved_arguments(fn),
                )
            )
            return fn

        return register


def _check_return_type(fn: Callable[..., Any]) -> None:
    """A tool returns a `ToolResult` (compact text, no nulls) or `Annotated[CallToolResult, Model]`;
    anything else would be serialised by the SDK with nulls its own output schema does not allow."""
    returned = typing.get_type_hints(fn, include_extras=True).get("return")
    if isinstance(returned, type) and issubclass(returned, ToolResult):
        return
    if typing.get_origin(returned) is typing.Annotated and typing.get_args(returned)[0] is CallToolResult:
        return
    raise TypeError(f"tool {fn.__name__} must return a ToolResult or Annotated[CallToolResult, Model]")
