"""Every tool call passes the shared-state gate: refused while the shared store (Redis) is unreachable,
counted against the caller's rate limit (`--rate-limit`, fleet-wide with Redis), and any shared-state
failure inside the tool told to the caller in plain words instead of a generic crash."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from mcp.server.mcpserver.exceptions import ToolError

from replicas_mcp.server.caller import current_caller
from replicas_mcp.server.state import app_state, context_in
from replicas_mcp.server.state.shared import UNAVAILABLE_MESSAGE, RateLimited, SharedStateUnavailable

if TYPE_CHECKING:
    from mcp.server.mcpserver.tools import Tool

RATE_WINDOW = 60.0


def gated(tool: Tool, rate_limit: int) -> Tool:
    """The tool behind the gate (`rate_limit`: calls per caller per minute, 0 for none)."""
    inner = tool.fn

    @functools.wraps(inner)
    async def call(**kwargs: Any) -> Any:
        ctx = context_in(kwargs)
        if ctx is not None:
            shared = app_state(ctx).shared
            if not shared.healthy and not await shared.check():  # the flag may lag a recovery by 1 s
                raise ToolError(UNAVAILABLE_MESSAGE)
            if rate_limit:
                await _count(shared.rate, rate_limit)
        try:
            return await inner(**kwargs)
        except SharedStateUnavailable as exc:
            raise ToolError(str(exc)) from None
        except ExceptionGroup as group:  # raised inside a task group (fan-out launches)
            unavailable = group.subgroup(SharedStateUnavailable)
            if unavailable is None:
                raise
            raise ToolError(str(_first(unavailable))) from None

    return tool.model_copy(update={"fn": call})


async def _count(rate: Any, limit: int) -> None:
    try:
        await rate.hit(current_caller(), limit, RATE_WINDOW)
    except RateLimited as exc:
        raise ToolError(
            f"Rate limit reached: this server allows {limit} tool calls per minute per caller. "
            f"Retry in {max(1, round(exc.retry_after))} s."
        ) from None
    except SharedStateUnavailable as exc:
        raise ToolError(str(exc)) from None


def _first(group: BaseExceptionGroup[Any]) -> BaseException:
    leaf: BaseException = group
    while isinstance(leaf, BaseExceptionGroup):
        leaf = leaf.exceptions[0]
    return leaf
