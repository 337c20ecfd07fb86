"""The one door to the MCP SDK's internals: everything here relies on SDK details that are not its public
`MCPServer` API, so an SDK upgrade that changes them breaks this module (and tests/server/test_sdk.py),
nowhere else.

- Tools: `sdk_tool` builds the SDK's `Tool` from a served function and then replaces its `FuncMetadata`
  (a new object, never edited in place) to publish the shaped schemas, validate with the strict argument
  model and keep text arguments as sent (`FuncMetadata.pre_parse_json` JSON-parses strings).
- Low-level handlers: `add_request_handler` registers a request handler on the `MCPServer`'s low-level
  server (`_lowlevel_server`), for protocol methods `MCPServer` has no API for (legacy
  `resources/subscribe`, `subscriptions/listen` with watching, logging, completions).
- Guards: `check_before` runs a check on a request's params before the SDK's own handler of that method
  (from the low-level server's `_request_handlers`), e.g. an unknown prompt name refused cleanly: the SDK's
  `get_prompt` raises a `ValueError`, which its dispatcher logs as an ERROR with a traceback.
- Sessions: `connection_of` (the per-client connection a request's `ServerSession` belongs to: the SDK builds
  a new `ServerSession` per request, so it cannot identify a legacy session) and `when_connection_ends`
  (cleanup run when that connection closes: HTTP DELETE of the session, its stream gone, shutdown).
- Logging: `send_log_message`, the SDK's deprecated protocol-logging call without its per-call warning.
- Confirmation: `can_send_request` (whether a legacy session has a back-channel to ask the user on) and
  `form_schema` (an elicitation form's `requested_schema`).
- Stdio in a terminal: `run_stdio_in_a_terminal` serves stdio like `MCPServer.run_stdio_async` (the SDK's
  `stdio_server` and `_lowlevel_server.run`), but reads a terminal's stdin without a worker thread, so Ctrl-C
  stops the server at once (the SDK's thread read cannot be cancelled until Enter is pressed).
- Resources: `add_typed_template` registers a resource template whose reads carry their own MIME type
  (`TypedBody`): a subclass of the SDK's `ResourceTemplate`, put in its resource manager (`_templates`).
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, cast

import anyio
from mcp import MCPDeprecationWarning
from mcp.server.elicitation import render_elicitation_schema
from mcp.server.mcpserver.resources.templates import ResourceTemplate
from mcp.server.mcpserver.resources.types import FunctionResource
from mcp.server.mcpserver.tools import Tool
from mcp.server.mcpserver.utilities.func_metadata import FuncMetadata
from pydantic import BaseModel

if TYPE_CHECKING:
    from mcp.server import MCPServer, ServerRequestContext
    from mcp.server.mcpserver import Context
    from mcp.types import ToolAnnotations

P = TypeVar("P", bound=BaseModel)


class _TextKeepingMetadata(FuncMetadata):
    """`FuncMetadata` whose JSON pre-parsing leaves the `text_arguments` exactly as sent."""

    text_arguments: frozenset[str] = frozenset()

    def pre_parse_json(self, data: dict[str, Any]) -> dict[str, Any]:
        parsed = super().pre_parse_json(data)
        for key, value in data.items():
            if isinstance(value, str) and key in self.text_arguments:
                parsed[key] = value
        return parsed


def sdk_tool(
    fn: Callable[..., Any],
    *,
    name: str,
    title: str,
    description: str,
    annotations: ToolAnnotations,
    shape_input: Callable[[dict[str, Any]], dict[str, Any]],
    shape_output: Callable[[dict[str, Any]], dict[str, Any]],
    strict_arguments: Callable[[type[BaseModel], dict[str, Any]], type[BaseModel]],
    text_arguments: frozenset[str],
) -> Tool:
    """The SDK `Tool` serving `fn` (its signature gives the schemas), published with `shape_input` /
    `shape_output` applied to the SDK's schemas and validating with `strict_arguments(model, schema)`, a
    subclass of the SDK's argument model (given the published input schema)."""
    tool = Tool.from_function(fn, name=name, title=title, description=description, annotations=annotations)
    current = tool.fn_metadata
    parameters = shape_input(tool.parameters)
    output_schema = None if current.output_schema is None else shape_output(current.output_schema)
    metadata = _TextKeepingMetadata(
        arg_model=strict_arguments(current.arg_model, parameters),
        output_schema=output_schema,
        output_model=current.output_model,
        wrap_output=current.wrap_output,
        text_arguments=text_arguments,
    )
    return tool.model_copy(update={"parameters": parameters, "fn_metadata": metadata})


def output_schema_of(tool: Tool) -> dict[str, Any] | None:
    """The output schema a `Tool` publishes (and validates structured results against)."""
    return tool.fn_metadata.output_schema


def add_request_handler(
    server: MCPServer[Any],
    method: str,
    params_type: type[P],
    handler: Callable[[ServerRequestContext[Any, Any], P], Any],
) -> None:
    """Serve `method` with `handler` on the server's low-level server (replacing the SDK's own, if any)."""
    server._lowlevel_server.add_request_handler(method, params_type, handler)


def check_before(server: MCPServer[Any], method: str, check: Callable[[Any], None]) -> None:
    """Call `check(params)` (it raises `MCPError` to refuse) before the handler already serving `method`."""
    low = server._lowlevel_server
    entry = low._request_handlers[method]

    async def checked(ctx: ServerRequestContext[Any, Any], params: Any) -> Any:
        check(params)
        return await entry.handler(ctx, params)

    low.add_request_handler(method, entry.params_type, checked)


def connection_of(session: Any) -> object:
    """The connection (one per legacy session) a request's `ServerSession` belongs to."""
    return cast(object, session._connection)


def when_connection_ends(session: Any, callback: Callable[[], Awaitable[None]]) -> None:
    """Run `callback` once the connection of this request's session closes (the SDK unwinds its exit stack,
    shielded and bounded, when the session is deleted, its transport closes or the server stops)."""
    session._connection.exit_stack.push_async_callback(callback)


def can_send_request(ctx: Context[Any, Any]) -> bool:
    """Whether the server can send a request to this caller now (a legacy session with a back-channel)."""
    return bool(ctx.session.can_send_request)


def form_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The `requested_schema` of an elicitation form with `model`'s fields."""
    return render_elicitation_schema(model)


@dataclass(frozen=True)
class TypedBody:
    """A template result that carries its own MIME type (the SDK fixes one per template otherwise)."""

    data: str | bytes
    mime_type: str


class _TypedContentTemplate(ResourceTemplate):
    """A template whose function may return `TypedBody`, so each read has the right MIME type."""

    async def create_resource(self, uri: str, params: dict[str, Any], context: Any) -> Any:
        resource = await super().create_resource(uri, params, context)
        if isinstance(resource, FunctionResource):
            body = resource.fn()
            if isinstance(body, TypedBody):
                return FunctionResource(
                    uri=resource.uri,
                    name=resource.name,
                    title=resource.title,
                    description=resource.description,
                    mime_type=body.mime_type,
                    fn=lambda: body.data,
                )
        return resource


def add_typed_template(
    server: MCPServer[Any], fn: Callable[..., Any], uri_template: str, *, name: str, title: str
) -> None:
    """Serve `uri_template` with `fn`, whose reads may return `TypedBody` (each with its own MIME type).
    The SDK has no public hook for a template class: this writes to its resource manager."""
    template = _TypedContentTemplate.from_function(
        fn, uri_template=uri_template, name=name, title=title, mime_type="application/octet-stream"
    )
    server._resource_manager._templates[template.uri_template] = template


def send_log_message(
    session: Any, level: str, text: str, logger: str, related_request_id: Any
) -> Awaitable[None]:
    """`notifications/message` through the session's `send_log_message`, which the SDK marks deprecated
    (protocol logging, SEP-2577) and warns about on every call; the warning is silenced for this one
    synchronous call only (the coroutine it returns is awaited by the caller, outside the filter)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MCPDeprecationWarning)
        return cast(
            "Awaitable[None]",
            session.send_log_message(
                level=level, data=text, logger=logger, related_request_id=related_request_id
            ),
        )


class _TerminalLines:
    """Lines of a terminal's stdin, read when the descriptor is readable: a wait that cancels at once."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._pending = b""

    def __aiter__(self) -> _TerminalLines:
        return self

    async def __anext__(self) -> str:
        while b"\n" not in self._pending:
            await anyio.wait_readable(self._fd)
            chunk = os.read(self._fd, 65536)
            if not chunk:  # end of input (Ctrl-D): the last partial line, then stop
                if not self._pending:
                    raise StopAsyncIteration
                chunk = b"\n"
            self._pending += chunk
        line, _, self._pending = self._pending.partition(b"\n")
        return (line + b"\n").decode("utf-8", errors="replace")


async def run_stdio_in_a_terminal(server: MCPServer[Any]) -> None:
    """Serve MCP over stdio whose stdin is a terminal, stoppable by Ctrl-C (SIGINT cancels the read)."""
    from mcp.server.stdio import stdio_server

    terminal = cast(Any, _TerminalLines(sys.stdin.fileno()))  # stdio_server only iterates its stdin
    async with stdio_server(stdin=terminal) as (read_stream, write_stream):
        lowlevel = server._lowlevel_server
        await lowlevel.run(read_stream, write_stream, lowlevel.create_initialization_options())
