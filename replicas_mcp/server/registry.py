"""The tool registry: each tool declared once, with its toolset, title and annotations; selection; install.

Adding a tool to a toolset (for example a workflow tool in the default `replicas` toolset)::

    # replicas_mcp/server/toolsets/delegation.py
    from replicas_mcp.server.registry import ToolGroup
    from replicas_mcp.server.state import ToolContext, client_of

    tools = ToolGroup("replicas")

    @tools.tool(title="Delegate a coding task", read_only=False, destructive=False, idempotent=False)
    async def delegate_task(ctx: ToolContext, task: Annotated[str, Field(description="...")]) -> MyResult:
        '''Description written for a model: when to use it, what comes back, what to call next.'''
        ...

and add `"delegation"` to `TOOL_MODULES` below (its place there is its place in `tools/list`).

A tool function is `async`, takes a `ToolContext` parameter plus its arguments (pydantic `Annotated[...,
Field(description=...)]`, which become the input schema), and returns a `ToolResult` (pydantic model: the
output schema, compact JSON text or its own `to_text()`), or a `CallToolResult` annotated with its model.
Client errors need no handling: the registry's guard turns every `ReplicasError` into a `ToolError` with the
next step, and bounds each call with a timeout.

Selection (`select_tools`), in this order:
  1. the tools of the chosen toolsets (`--toolsets`, default `replicas`; `all` is everything); when an allow
     list is given without explicit toolsets, start from nothing;
  2. add every tool named in the allow list (`--tools`);
  3. remove every tool named in the deny list (`--exclude-tools`): the deny list always wins;
  4. with `--read-only`, drop every tool not annotated read-only: this wins over everything.
Unknown toolset or tool names are errors (a typo would otherwise silently expose or hide tools).
"""

from __future__ import annotations

import functools
import importlib
import inspect
import typing
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel

from replicas_mcp.client.errors import ReplicasError
from replicas_mcp.server.errors import tool_error
from replicas_mcp.server.state import context_in

if TYPE_CHECKING:
    from mcp.server.mcpserver.tools import Tool

# Toolsets, in the order they are documented; `all` selects every one of them.
TOOLSETS: dict[str, str] = {
    "replicas": "Delegate and wait; workspaces: list, inspect, create, message, history, delete (default).",
    "chats": "Chats inside a replica and their message queues.",
    "canvas": "Files the agent drops into a replica's canvas.",
    "hooks": "Warm/start hook logs of a replica.",
    "environments": "Environments: CRUD, variables, files, skills, MCPs, hooks, warm pool.",
    "automations": "Scheduled and event-triggered automations and their executions.",
}
ALL = "all"
DEFAULT_TOOLSETS = ("replicas",)

# Modules under replicas_mcp.server.toolsets, in tools/list order.
# The delegation workflow tools come first: they are what the default toolset is mostly used for.
TOOL_MODULES: tuple[str, ...] = (
    "delegation",
    "replicas",
    "chats",
    "canvas",
    "hooks",
    "environments",
    "automations",
)

# The toolset of each module whose name is not a toolset's own; `select_tools` imports only the modules
# of the toolsets it serves (a cold start of the default toolset skips the rest).
MODULE_TOOLSET: dict[str, str] = {"delegation": "replicas"}

DEFAULT_TIMEOUT = 120.0

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])


class ToolResult(BaseModel):
    """Base of tool results: the model is the output schema; the text the model reads is `to_text()`.

    The default text is compact JSON without nulls. Override `to_text` for results that read better as text
    (transcripts, logs), and fence remote-agent text there.
    """

    def to_text(self) -> str:
        return self.model_dump_json(exclude_none=True)


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
    ) -> Callable[[F], F]:
        """Declare a tool. The docstring is its description (written for a model)."""
        if read_only and destructive:
            raise ValueError("a read-only tool cannot be destructive")

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


def all_tools() -> tuple[ToolSpec, ...]:
    """Every declared tool, in tools/list order. Imports the toolset modules on first use."""
    return tools_of(frozenset(TOOLSETS))


@functools.cache
def tools_of(toolsets: frozenset[str]) -> tuple[ToolSpec, ...]:
    """The tools of these toolsets, in tools/list order; imports only their modules."""
    specs: list[ToolSpec] = []
    for module_name in TOOL_MODULES:
        if MODULE_TOOLSET.get(module_name, module_name) not in toolsets:
            continue
        module = importlib.import_module(f"replicas_mcp.server.toolsets.{module_name}")
        group = module.tools
        if not isinstance(group, ToolGroup):
            raise TypeError(f"replicas_mcp.server.toolsets.{module_name}.tools must be a ToolGroup")
        specs.extend(group.specs)
    names = [spec.name for spec in specs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"tool names declared twice: {', '.join(duplicates)}")
    return tuple(specs)


class SelectionError(ValueError):
    """A toolset or tool name that does not exist."""


def unknown_tools_message(unknown: Sequence[str], known: Sequence[str]) -> str:
    """Names the closest real tools (an installed package has no docs/ to look them up in)."""
    import difflib

    guesses = sorted({m for name in unknown for m in difflib.get_close_matches(name, known, n=2)})
    hint = f"did you mean {', '.join(guesses)}? " if guesses else ""
    return f"unknown tool(s) {', '.join(unknown)}; {hint}the tools are: {', '.join(known)}"


@dataclass(frozen=True)
class ToolSelection:
    toolsets: tuple[str, ...] = ()  # empty: the default toolsets (or none, when an allow list is given)
    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    read_only: bool = False


def select_tools(selection: ToolSelection, specs: Sequence[ToolSpec] | None = None) -> list[ToolSpec]:
    """The tools to serve, in registry order. See the module docstring for the rules.

    Without `specs`, imports only the modules of the chosen toolsets, unless tools are named (allow or
    deny list): checking those names needs every tool.
    """
    unknown_sets = [name for name in selection.toolsets if name != ALL and name not in TOOLSETS]
    if unknown_sets:
        raise SelectionError(
            f"unknown toolset(s) {', '.join(unknown_sets)}; choose from {', '.join([*TOOLSETS, ALL])}"
        )
    if specs is None:
        chosen = selection.toolsets or DEFAULT_TOOLSETS
        named = selection.allow or selection.deny or ALL in chosen
        specs = all_tools() if named else tools_of(frozenset(chosen))
    known_tools = {spec.name for spec in specs}
    unknown_tools = [name for name in (*selection.allow, *selection.deny) if name not in known_tools]
    if unknown_tools:
        raise SelectionError(unknown_tools_message(unknown_tools, sorted(known_tools)))

    toolsets = selection.toolsets or (() if selection.allow else DEFAULT_TOOLSETS)
    wanted_sets = set(TOOLSETS) if ALL in toolsets else set(toolsets)
    return [
        spec
        for spec in specs
        if (spec.toolset in wanted_sets or spec.name in selection.allow)
        and spec.name not in selection.deny
        and (spec.read_only or not selection.read_only)
    ]


# --- installing on an MCPServer -------------------------------------------------------------------------


def _secrets_of(ctx: Context[Any, Any] | None) -> tuple[str, ...]:
    if ctx is None:
        return ()
    state = ctx.request_context.lifespan_context
    return tuple(getattr(state, "secrets", ()))


def as_call_result(result: Any) -> Any:
    """A `ToolResult` becomes text (`to_text()`) plus structured content without nulls (the published
    output schemas leave nulls out); a `CallToolResult` passes unchanged."""
    if isinstance(result, ToolResult):
        return CallToolResult(
            content=[TextContent(type="text", text=result.to_text())],
            structured_content=result.model_dump(mode="json", exclude_none=True),
        )
    return result


def guarded(spec: ToolSpec) -> Callable[..., Awaitable[Any]]:
    """The tool function as served: client errors → `ToolError`, a time bound, compact results.

    `functools.wraps` keeps the signature and annotations, which the SDK reads for the schemas.
    """

    @functools.wraps(spec.fn)
    async def call(**kwargs: Any) -> Any:
        try:
            with anyio.fail_after(spec.timeout):
                result = await spec.fn(**kwargs)
        except ReplicasError as exc:
            raise tool_error(exc, kwargs, secrets=_secrets_of(context_in(kwargs))) from None
        except TimeoutError:
            raise ToolError(
                f"{spec.name} did not finish within {spec.timeout:.0f} s. The work may continue upstream: "
                "check its state with the matching get_/list_ tool before retrying."
            ) from None
        return as_call_result(result)

    return call


_NULL = {"type": "null"}


def _drop_null(schema: dict[str, Any]) -> None:
    """Make an optional property non-nullable: `type: [X, "null"]` → `X`; `anyOf: [A, null]` → `A`."""
    kinds = schema.get("type")
    if isinstance(kinds, list) and "null" in kinds:
        rest = [k for k in kinds if k != "null"]
        schema["type"] = rest[0] if len(rest) == 1 else rest
    branches = schema.get("anyOf")
    if isinstance(branches, list) and _NULL in branches:
        rest_branches = [b for b in branches if b != _NULL]
        del schema["anyOf"]
        if len(rest_branches) == 1:
            schema.update(rest_branches[0])
        else:
            schema["anyOf"] = rest_branches


def compact_schema(schema: Any, *, output: bool = False) -> Any:
    """Shrink a JSON schema in place, for a small `tools/list` (the model reads all of it).

    Everywhere: drops the `title` keywords pydantic adds (they repeat the property names) and turns
    `anyOf: [{type: X}, {type: null}]` into `type: [X, null]`; an optional property whose default is
    null loses the null (omitting it means the same). In output schemas also drops `default` and
    `description` (documented in the tool's description), and nulls: results never contain nulls,
    because `as_call_result` dumps them with `exclude_none`.
    """
    if isinstance(schema, list):
        for item in schema:
            compact_schema(item, output=output)
        return schema
    if not isinstance(schema, dict):
        return schema
    schema.pop("title", None)
    if output:
        schema.pop("default", None)
        schema.pop("description", None)
    else:
        _drop_noise_bounds(schema)
    if schema.get("additionalProperties") is True:
        del schema["additionalProperties"]  # the JSON Schema default
    for key in ("$defs", "patternProperties"):
        for sub in (schema.get(key) or {}).values():
            compact_schema(sub, output=output)
    required = set(schema.get("required") or ())
    for name, sub in (schema.get("properties") or {}).items():
        compact_schema(sub, output=output)
        if isinstance(sub, dict) and name not in required:
            if output or sub.get("default", 0) is None:
                sub.pop("default", None)
                _drop_null(sub)
            elif sub.get("default") is False and sub.get("type") == "boolean":
                del sub["default"]  # false is what an omitted flag means
    for key in ("items", "additionalProperties", "not", "prefixItems", "allOf", "oneOf", "anyOf"):
        if key in schema:
            compact_schema(schema[key], output=output)
    branches = schema.get("anyOf")
    if (
        isinstance(branches, list)
        and branches
        and all(isinstance(b, dict) and set(b) == {"type"} and isinstance(b["type"], str) for b in branches)
    ):
        del schema["anyOf"]
        schema["type"] = [b["type"] for b in branches]
    return schema


# Bounds the model gains nothing from reading: "not empty", "not negative", and abuse limits far above any
# real value. The argument model still enforces them (and the input guard bounds every string).
_NOISE_BOUND = 10_000


def _drop_noise_bounds(schema: dict[str, Any]) -> None:
    if schema.get("minLength") == 1:
        del schema["minLength"]
    if schema.get("minimum") == 0:
        del schema["minimum"]
    for key in ("maxLength", "maximum"):
        bound = schema.get(key)
        if isinstance(bound, int) and bound >= _NOISE_BOUND:
            del schema[key]


def inline_single_use_defs(schema: dict[str, Any]) -> dict[str, Any]:
    """Replace `$ref`s to `$defs` used exactly once by the definition itself (shorter, same meaning)."""
    defs = schema.get("$defs")
    if not isinstance(defs, dict):
        return schema
    prefix = "#/$defs/"
    uses: dict[str, int] = {}

    def count(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith(prefix):
                uses[ref[len(prefix) :]] = uses.get(ref[len(prefix) :], 0) + 1
            for value in node.values():
                count(value)
        elif isinstance(node, list):
            for value in node:
                count(value)

    count(schema)
    single = {name for name, n in uses.items() if n == 1 and name in defs}

    def inline(node: Any, seen: frozenset[str]) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            name = ref[len(prefix) :] if isinstance(ref, str) and ref.startswith(prefix) else None
            if name in single and name not in seen:
                body = {k: v for k, v in node.items() if k != "$ref"}
                return inline({**defs[name], **body}, seen | {name})
            return {k: inline(v, seen) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v, seen) for v in node]
        return node

    result = inline({k: v for k, v in schema.items() if k != "$defs"}, frozenset())
    remaining = {name: inline(body, frozenset({name})) for name, body in defs.items() if name not in single}
    if remaining:
        result["$defs"] = remaining
    schema.clear()
    schema.update(result)
    return schema


def _thin_nested_output(schema: Any, *, root: bool = True) -> None:
    """Below the root of an output schema, drop what costs context and tells the model nothing: `required`
    lists (the fields stay documented by `properties`), `type: object` on an object with `properties` and
    `type: array` on an array with `items` (both implied). Property names are never taken for keywords."""
    if isinstance(schema, list):
        for value in schema:
            _thin_nested_output(value, root=False)
        return
    if not isinstance(schema, dict):
        return
    if not root:
        schema.pop("required", None)
        if (schema.get("type") == "object" and "properties" in schema) or (
            schema.get("type") == "array" and "items" in schema
        ):
            del schema["type"]
    for key, value in schema.items():
        if key == "properties" and isinstance(value, dict):
            for sub in value.values():
                _thin_nested_output(sub, root=False)
        elif key not in ("required", "enum"):
            _thin_nested_output(value, root=False)


def build_tool(spec: ToolSpec) -> Tool:
    """An SDK `Tool` for a spec, with compact schemas."""
    from mcp.server.mcpserver.tools import Tool

    tool = Tool.from_function(
        guarded(spec),
        name=spec.name,
        title=spec.title,
        description=spec.description,
        annotations=spec.annotations(),
    )
    inline_single_use_defs(compact_schema(tool.parameters))
    if tool.fn_metadata.output_schema is not None:
        inline_single_use_defs(compact_schema(tool.fn_metadata.output_schema, output=True))
        _thin_nested_output(tool.fn_metadata.output_schema)
    return tool


def build_tools(specs: Iterable[ToolSpec]) -> list[Tool]:
    return [build_tool(spec) for spec in specs]
