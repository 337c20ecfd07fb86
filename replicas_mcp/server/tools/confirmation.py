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

What is asked, and when, is part of each tool's declaration (`confirm=`, a `Question`; destructive tools
without one get a generic question); the tool wrapper (`wrapper.py`) asks before the tool body runs, after
the question has checked that the call can succeed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

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
from replicas_mcp.server.tools.sdk import can_send_request, form_schema

# The key of our question in `input_requests` / `input_responses` (2026-07-28).
QUESTION_KEY = "replicas_confirm_destructive"
_MODERN_VERSION = "2026-07-28"


class Confirmation(BaseModel):
    """The form the user fills in: one box that must be ticked."""

    confirm: bool = Field(description="Yes, do it (this cannot be undone)")


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
        return _is_modern(ctx) or can_send_request(ctx)
    except (AttributeError, ValueError):  # no request context: nobody to ask
        return False


def question_state(tool: str, arguments: Mapping[str, Any], message: str) -> str:
    """The `request_state` for the question about this exact call (a digest of tool, arguments and the
    question: when what the question showed has changed by the retry, the user is asked again)."""
    canonical = json.dumps(
        {"tool": tool, "arguments": arguments, "question": message}, sort_keys=True, default=str
    )
    return "confirm:" + hashlib.sha256(canonical.encode()).hexdigest()


def _declined(tool: str, how: str) -> ToolError:
    return ToolError(
        f"The user {how} {tool}, so nothing was changed and no request was sent. Do not retry unless the "
        "user asks for it again."
    )


def refused(tool: str) -> ToolError:
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
    message: str,
) -> InputRequiredResult | None:
    """Put `message` to the user before this call. None: go ahead. An `InputRequiredResult`: return it
    (2026-07-28, the client retries with the answer). Raises `ToolError` on a decline or a refusal."""
    if policy == "never":
        return None
    if not can_ask(ctx):
        if policy == "require":
            raise refused(tool)
        return None
    if _is_modern(ctx):
        state = question_state(tool, arguments, message)
        answer = (ctx.input_responses or {}).get(QUESTION_KEY)
        # An answer counts only on the retry of the round we minted (the SDK verified the sealed state).
        if answer is None or ctx.request_state != state:
            request = ElicitRequest(
                params=ElicitRequestFormParams(message=message, requested_schema=form_schema(Confirmation))
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
