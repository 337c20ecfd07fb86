"""A declared tool as the server serves it: one wrapper around the body does consent, the time bound, error
mapping and result shaping, and `build_tools` hands the wrapped tools to the SDK (through `sdk.py`).

Per call, in this order (argument validation has already run, in the strict argument model):
  0. resolution: each `Resolved` argument (an environment given by name) becomes what the call is made with,
     and a replica's name passed as its `replica_id` becomes its id (`replica_names.py`);
  1. consent: the tool's question, if it has one and the policy asks at all (`elicit` with a client that
     cannot be asked skips it). The question reads what it needs and raises `ToolError` when the call would
     fail, so nobody approves a call that cannot succeed; then the user is asked (see `confirmation.py`);
  2. the body; the tool's timeout bounds 1 and 2 together (a question unanswered by then says so);
  3. a client `ReplicasError` becomes a `ToolError` naming the next step (for a not-found `Resolved` argument,
     the resolver's message: which ones there are); a timeout says the work may go on;
  4. a `ToolResult` becomes compact text plus structured content without nulls.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import anyio
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, InputRequiredResult, TextContent

from replicas_mcp.client.errors import BadRequestError, NotFoundError, ReplicasError
from replicas_mcp.config import ConfirmPolicy
from replicas_mcp.server.errors import tool_error
from replicas_mcp.server.safety import redact
from replicas_mcp.server.state import client_of, context_in
from replicas_mcp.server.tools.arguments import strict_arguments_model, text_arguments
from replicas_mcp.server.tools.confirmation import can_ask, confirm_call, refused
from replicas_mcp.server.tools.declaration import PendingCall, Question, ToolResult, ToolSpec
from replicas_mcp.server.tools.replica_names import with_replica_ids
from replicas_mcp.server.tools.schema import shaped_input_schema, shaped_output_schema
from replicas_mcp.server.tools.sdk import sdk_tool
from replicas_mcp.server.user_notices import note_upstream_failure

if TYPE_CHECKING:
    from mcp.server.mcpserver.tools import Tool


def _secrets_of(ctx: Context[Any, Any] | None) -> tuple[str, ...]:
    if ctx is None:
        return ()
    state = ctx.request_context.lifespan_context
    return tuple(getattr(state, "secrets", ()))


def as_call_result(result: Any) -> Any:
    """A `ToolResult` becomes text (`to_text()`) plus structured content without nulls (the published
    output schemas leave nulls out); a `CallToolResult` or an `InputRequiredResult` passes unchanged."""
    if isinstance(result, ToolResult):
        return CallToolResult(
            content=[TextContent(type="text", text=result.to_text())],
            structured_content=result.model_dump(mode="json", exclude_none=True),
        )
    return result


async def _consent(
    spec: ToolSpec, policy: ConfirmPolicy, ctx: Context[Any, Any] | None, kwargs: Mapping[str, Any]
) -> InputRequiredResult | None:
    """Ask the user when this call needs it (see the module docstring). None: go ahead."""
    if spec.question is None or policy == "never":
        return None
    arguments = {key: value for key, value in kwargs.items() if not isinstance(value, Context)}
    if ctx is None:  # no request: no one to ask (and no caller whose state a question could read)
        if policy == "require" and await _may_ask(spec.question, PendingCall(spec.name, arguments)):
            raise refused(spec.name)
        return None
    if policy == "elicit" and not can_ask(ctx):
        return None  # nobody to ask, and elicit lets such a client proceed: no need to read anything first
    message = await spec.question(PendingCall(spec.name, arguments, ctx))
    if message is None:
        return None
    return await confirm_call(ctx, spec.name, arguments, policy, message)


async def _may_ask(question: Question, call: PendingCall) -> bool:
    """Whether this call would be asked about, judged without a caller: a question that needs to read the
    current state counts as asking (refusing is the safe side)."""
    try:
        return await question(call) is not None
    except RuntimeError:  # PendingCall.client outside a request
        return True


async def _resolve(spec: ToolSpec, ctx: Context[Any, Any] | None, kwargs: dict[str, Any]) -> None:
    """Replace each `Resolved` argument (an environment given by name) with what the call is made with."""
    if ctx is None:
        return
    for name, resolver in spec.resolved_args:
        value = kwargs.get(name)
        if isinstance(value, str):
            kwargs[name] = await resolver.resolve(client_of(ctx), value)


async def _missing(
    spec: ToolSpec, ctx: Context[Any, Any] | None, kwargs: Mapping[str, Any], exc: ReplicasError
) -> str | None:
    """For a call that failed as not found (or 400) on a `Resolved` argument that names nothing: the message
    that says which ones there are. None: the usual error (the failure was about something else, or the
    check itself failed)."""
    if ctx is None or not isinstance(exc, NotFoundError | BadRequestError):
        return None
    for name, resolver in spec.resolved_args:
        value = kwargs.get(name)
        if isinstance(value, str):
            try:
                message = await resolver.missing(client_of(ctx), value)
            except ReplicasError:
                return None
            if message is not None:
                return message
    return None


def served(spec: ToolSpec, policy: ConfirmPolicy) -> Callable[..., Awaitable[Any]]:
    """The tool function as served (see the module docstring).

    `functools.wraps` keeps the signature and annotations, which the SDK reads for the schemas.
    """

    @functools.wraps(spec.fn)
    async def call(**kwargs: Any) -> Any:
        ctx = context_in(kwargs)
        consented = False
        try:
            with anyio.fail_after(spec.timeout):
                await _resolve(spec, ctx, kwargs)
                kwargs = await with_replica_ids(ctx, kwargs, spec.id_args)  # a replica's name: its id
                pending = await _consent(spec, policy, ctx, kwargs)
                if pending is not None:
                    return pending
                consented = True
                result = await spec.fn(**kwargs)
        except ReplicasError as exc:
            note_upstream_failure(exc)  # an outage also goes to the client's log (user_notices.py)
            missing = await _missing(spec, ctx, kwargs, exc)
            if missing is not None:
                raise ToolError(redact(missing, _secrets_of(ctx))) from None
            raise tool_error(exc, kwargs, secrets=_secrets_of(ctx)) from None
        except TimeoutError:
            if not consented:  # the time ran out before the body began (the user did not answer in time)
                raise ToolError(
                    f"{spec.name} was not confirmed within {spec.timeout:.0f} s, so nothing was changed and "
                    "no request was sent. Do not retry unless the user asks for it again."
                ) from None
            raise ToolError(
                f"{spec.name} did not finish within {spec.timeout:.0f} s. The work may continue upstream: "
                "check its state with the matching get_/list_ tool before retrying."
            ) from None
        return as_call_result(result)

    return call


def build_tool(spec: ToolSpec, policy: ConfirmPolicy = "elicit") -> Tool:
    """The SDK `Tool` for a declared tool: served by the wrapper, with shaped schemas and strict arguments."""
    return sdk_tool(
        served(spec, policy),
        name=spec.name,
        title=spec.title,
        description=spec.description,
        annotations=spec.annotations(),
        shape_input=shaped_input_schema,
        shape_output=shaped_output_schema,
        strict_arguments=lambda model, parameters: strict_arguments_model(
            spec.name, model, parameters, spec.id_args
        ),
        text_arguments=text_arguments(spec.id_args),
    )


def build_tools(specs: Iterable[ToolSpec], policy: ConfirmPolicy = "elicit") -> list[Tool]:
    return [build_tool(spec, policy) for spec in specs]
