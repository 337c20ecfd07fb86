"""Confirmation of destructive actions: ask the human, through the MCP client, before anything is lost.

The model that calls tools reads text written by other agents, so a destructive call may be the product of a
prompt injection. The policy (`--confirm-destructive`) decides what happens before such a call goes upstream:

- `never`: no question; the call proceeds (the tool annotations still say it is destructive).
- `elicit` (default): a client that supports form elicitation is asked, with the concrete target; a decline,
  a cancel or an unticked box ends the call with a `ToolError` and **no upstream request**. A client that
  cannot be asked (no elicitation capability, or a legacy session without a back-channel, as in stateless
  HTTP) proceeds.
- `require`: like `elicit`, but a client that cannot be asked is refused.

How the question travels depends on the protocol era:

- legacy sessions (≤ 2025-11-25): a live `elicitation/create` request over the session's back-channel;
- 2026-07-28: the tool returns an `InputRequiredResult` and the client retries the same call with the answer.
  The retry is accepted only together with the `request_state` minted for that question; the SDK seals that
  state (bound to the tool, its arguments and the caller), so an answer cannot be supplied up front or
  replayed for another target.

`confirming(spec, policy)` wraps a `ToolSpec` so the question is asked before the tool body runs; `app.py`
applies it to every selected tool (non-destructive ones pass through untouched).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from mcp.server.elicitation import render_elicitation_schema
from mcp.server.mcpserver import AcceptedElicitation, Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import (
    ClientCapabilities,
    ElicitRequest,
    ElicitRequestFormParams,
    ElicitResult,
    InputRequiredResult,
)
from pydantic import BaseModel, Field

from replicas_mcp.config import ConfirmPolicy as ConfirmPolicy
from replicas_mcp.server.safety import clean_text, truncate
from replicas_mcp.server.state import context_in

if TYPE_CHECKING:
    from replicas_mcp.server.registry import ToolSpec


# The key of our question in `input_requests` / `input_responses` (2026-07-28).
QUESTION_KEY = "replicas_confirm_destructive"
_MODERN_VERSION = "2026-07-28"
_ARG_LIMIT = 120  # how much of one argument the question quotes


class Confirmation(BaseModel):
    """The form the user fills in: one box that must be ticked."""

    confirm: bool = Field(description="Yes, do it (this cannot be undone)")


def _arg(arguments: Mapping[str, Any], name: str) -> str:
    """An argument as the question quotes it: cleaned of invisible characters and shortened."""
    return truncate(clean_text(str(arguments.get(name, "?"))), _ARG_LIMIT)


def destructive_target(tool: str, arguments: Mapping[str, Any], *, destructive: bool = True) -> str | None:
    """The question to put to the user for this call, or None when this call destroys nothing.

    Known tools get a sentence naming the concrete target; any other destructive tool gets a generic one
    (so a destructive tool added later is still confirmed rather than silently skipped).
    """
    a = functools.partial(_arg, arguments)
    match tool:
        case "delete_replica":
            return (
                f"Delete replica {a('replica_id')}? Its workspace, chats and canvas are removed; "
                "work not pushed to a branch is lost."
            )
        case "delete_chat":
            return f"Delete chat {a('chat_id')} of replica {a('replica_id')} and its history?"
        case "remove_environment_item":
            if arguments.get("kind") == "environment":
                return f"Delete environment {a('environment_id')} with its variables, files, MCPs and hooks?"
            return f"Remove {a('kind')} {a('item')!r} from environment {a('environment_id')}?"
        case "delete_automation":
            return f"Delete automation {a('automation_id')}? Its triggers stop firing."
        case "edit_chat_queue":
            action = arguments.get("action")
            if action == "clear":
                return f"Clear every queued message of chat {a('chat_id')} in replica {a('replica_id')}?"
            if action == "remove":
                return (
                    f"Remove queued message {a('message_id')} from chat {a('chat_id')} "
                    f"in replica {a('replica_id')}?"
                )
            return None  # moving a queued message loses nothing
        case "send_replica_message":
            if arguments.get("mode") != "replace_queue":
                return None  # appending or queueing first loses nothing: a plain send never asks
            return f"Drop every message queued for replica {a('replica_id')} and send this one instead?"
        case "run_environment_hook":
            if arguments.get("save", "no") == "no":
                return None  # a test run saves nothing
            return (
                f"Save this {a('hook')} hook to environment {a('environment_id')}, replacing the current one"
                + (
                    " if the test run passes?"
                    if arguments.get("save") == "if_passes"
                    else " without testing it?"
                )
            )
        case _:
            if not destructive:
                return None
            shown = ", ".join(f"{name}={_arg(arguments, name)}" for name in sorted(arguments))
            return f"Run {tool}({shown})? It changes or deletes data and cannot be undone."


def _is_modern(ctx: Context[Any, Any]) -> bool:
    version = ctx.protocol_version
    return version is not None and version >= _MODERN_VERSION


def supports_form_elicitation(capabilities: ClientCapabilities | None) -> bool:
    """The SDK's rule: an `elicitation` capability with `form`, or the bare `{}` of older clients."""
    elicitation = capabilities.elicitation if capabilities is not None else None
    return elicitation is not None and (elicitation.form is not None or elicitation.url is None)


def can_ask(ctx: Context[Any, Any]) -> bool:
    """Whether this caller can be asked now: it declared form elicitation and there is a way to reach it."""
    try:
        capabilities = ctx.client_capabilities
        if not supports_form_elicitation(capabilities):
            return False
        return _is_modern(ctx) or bool(ctx.session.can_send_request)
    except (AttributeError, ValueError):  # no request context: nobody to ask
        return False


def question_state(tool: str, arguments: Mapping[str, Any]) -> str:
    """The `request_state` for the question about this exact call (a digest of tool and arguments)."""
    canonical = json.dumps({"tool": tool, "arguments": arguments}, sort_keys=True, default=str)
    return "confirm:" + hashlib.sha256(canonical.encode()).hexdigest()


def _declined(tool: str, how: str) -> ToolError:
    return ToolError(
        f"The user {how} {tool}, so nothing was changed and no request was sent. Do not retry unless the "
        "user asks for it again."
    )


def _refused(tool: str) -> ToolError:
    return ToolError(
        f"{tool} was refused: this server requires the user's confirmation for destructive actions "
        "(--confirm-destructive=require), and this MCP client cannot ask (it declared no form elicitation "
        "support, or the session has no back-channel). Ask the user to do it from a client that supports "
        "elicitation, or in the Replicas dashboard."
    )


def _outcome_ok(tool: str, action: str, content: Mapping[str, Any] | None) -> None:
    if action == "accept":
        if content is not None and content.get("confirm") is True:
            return
        raise _declined(tool, "did not tick the confirmation for")
    raise _declined(tool, "declined" if action == "decline" else "cancelled")


async def confirm_call(
    ctx: Context[Any, Any],
    tool: str,
    arguments: Mapping[str, Any],
    policy: ConfirmPolicy,
    *,
    destructive: bool,
) -> InputRequiredResult | None:
    """Ask before a destructive call. None: go ahead. An `InputRequiredResult`: return it (2026-07-28,
    the client retries with the answer). Raises `ToolError` on a decline or a refusal."""
    if policy == "never":
        return None
    message = destructive_target(tool, arguments, destructive=destructive)
    if message is None:
        return None
    if not can_ask(ctx):
        if policy == "require":
            raise _refused(tool)
        return None
    if _is_modern(ctx):
        state = question_state(tool, arguments)
        answer = (ctx.input_responses or {}).get(QUESTION_KEY)
        # An answer counts only on the retry of the round we minted (the SDK verified the sealed state).
        if answer is None or ctx.request_state != state:
            request = ElicitRequest(
                params=ElicitRequestFormParams(
                    message=message, requested_schema=render_elicitation_schema(Confirmation)
                )
            )
            return InputRequiredResult(input_requests={QUESTION_KEY: request}, request_state=state)
        if not isinstance(answer, ElicitResult):
            raise _declined(tool, "gave no usable answer to the confirmation of")
        _outcome_ok(tool, answer.action, answer.content)
        return None
    outcome = await ctx.elicit(message, Confirmation)
    if isinstance(outcome, AcceptedElicitation):
        _outcome_ok(tool, "accept", {"confirm": outcome.data.confirm})
        return None
    _outcome_ok(tool, outcome.action, None)
    return None


# Tools not annotated destructive (their usual calls lose nothing) of which some calls do destroy:
# `destructive_target` says which calls (send_replica_message: only mode="replace_queue").
CONFIRMED_BY_ARGUMENTS = frozenset({"send_replica_message"})


def confirming(spec: ToolSpec, policy: ConfirmPolicy) -> ToolSpec:
    """The spec with its body behind the confirmation policy (unchanged when nothing can be destroyed)."""
    if policy == "never" or not (spec.destructive or spec.name in CONFIRMED_BY_ARGUMENTS):
        return spec
    body: Callable[..., Awaitable[Any]] = spec.fn
    name = spec.name
    destructive = spec.destructive

    @functools.wraps(body)
    async def confirmed(**kwargs: Any) -> Any:
        ctx = context_in(kwargs)
        if ctx is not None:
            arguments = {key: value for key, value in kwargs.items() if not isinstance(value, Context)}
            pending = await confirm_call(ctx, name, arguments, policy, destructive=destructive)
            if pending is not None:
                return pending
        elif policy == "require" and destructive_target(name, kwargs, destructive=destructive) is not None:
            raise _refused(name)  # no request context means no one to ask
        return await body(**kwargs)

    return dataclasses.replace(spec, fn=confirmed)
