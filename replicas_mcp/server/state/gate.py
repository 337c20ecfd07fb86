"""Every tool call passes the shared-state gate: refused while the shared store (Redis) is unreachable,
counted against the caller's rate limit (`--rate-limit`, fleet-wide with Redis), and any shared-state
failure inside the tool told to the caller in plain words instead of a generic crash. Waits (long calls
that each hold an upstream stream and a task) are also capped per caller in this process (`--max-waits`).

The other requests that cost upstream requests count in the same budget (`RateLimitMiddleware`, SDK
middleware around every request): resource reads, prompts, completions, listen streams and legacy
subscriptions (`METERED`). The list requests (tools, resources, templates, prompts) are exempt: they are
answered from this process, with no upstream request."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from mcp.server.mcpserver.exceptions import ToolError
from mcp.shared.exceptions import MCPError
from mcp.types import INTERNAL_ERROR, INVALID_REQUEST

from replicas_mcp.server.caller import current_caller
from replicas_mcp.server.state import app_state, context_in
from replicas_mcp.server.state.shared import UNAVAILABLE_MESSAGE, RateLimited, SharedStateUnavailable

if TYPE_CHECKING:
    from mcp.server import ServerRequestContext
    from mcp.server.context import CallNext, HandlerResult
    from mcp.server.mcpserver.tools import Tool

RATE_WINDOW = 60.0
WAIT_TOOLS = frozenset({"wait_for_replica", "delegate_task"})  # delegate_task waits up to wait_s too
# Requests besides tools/call that reach the API, counted in the caller's `--rate-limit` budget.
METERED = frozenset(
    {"resources/read", "prompts/get", "completion/complete", "subscriptions/listen", "resources/subscribe"}
)


class WaitSlots:
    """Waits in flight per caller (0: no cap); refused, with what to do, past the cap."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._in_flight: dict[str, int] = {}

    @property
    def in_flight(self) -> int:
        """Callers with a wait in flight now (no entry is kept for the others)."""
        return len(self._in_flight)

    def take(self, caller: str) -> None:
        if self.limit and self._in_flight.get(caller, 0) >= self.limit:
            raise ToolError(
                f"Too many waiting calls in flight for this caller: the server allows {self.limit} at once. "
                "Let one return (each is bounded) or wait on several replicas in fewer calls, then retry."
            )
        self._in_flight[caller] = self._in_flight.get(caller, 0) + 1

    def give_back(self, caller: str) -> None:
        left = self._in_flight.get(caller, 1) - 1
        if left > 0:
            self._in_flight[caller] = left
        else:
            self._in_flight.pop(caller, None)  # no entry kept for a caller with nothing in flight


def gated(tool: Tool, rate_limit: int, waits: WaitSlots | None = None) -> Tool:
    """The tool behind the gate (`rate_limit`: calls per caller per minute, 0 for none; `waits`: the
    per-caller cap on waits in flight, for the wait tools)."""
    inner = tool.fn
    waits = waits if tool.name in WAIT_TOOLS else None

    @functools.wraps(inner)
    async def call(**kwargs: Any) -> Any:
        ctx = context_in(kwargs)
        if ctx is not None:
            shared = app_state(ctx).shared
            if not shared.healthy and not await shared.check():  # the flag may lag a recovery by 1 s
                raise ToolError(UNAVAILABLE_MESSAGE)
            if rate_limit:
                await _count(shared.rate, rate_limit)
        caller = current_caller()
        if waits is not None:
            waits.take(caller)
        try:
            return await inner(**kwargs)
        except SharedStateUnavailable as exc:
            raise ToolError(str(exc)) from None
        except ExceptionGroup as group:  # raised inside a task group (fan-out launches)
            unavailable = group.subgroup(SharedStateUnavailable)
            if unavailable is None:
                raise
            raise ToolError(str(_first(unavailable))) from None
        finally:
            if waits is not None:
                waits.give_back(caller)

    return tool.model_copy(update={"fn": call})


class RateLimitMiddleware:
    """SDK middleware: each `METERED` request takes one of its caller's `--rate-limit` calls (the budget tool
    calls take theirs from in `gated`), refused with a JSON-RPC error saying when to retry."""

    def __init__(self, limit: int) -> None:
        self.limit = limit

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        shared = getattr(ctx.lifespan_context, "shared", None)
        if self.limit and shared is not None and ctx.request_id is not None and ctx.method in METERED:
            try:
                await shared.rate.hit(current_caller(), self.limit, RATE_WINDOW)
            except RateLimited as exc:
                raise MCPError(code=INVALID_REQUEST, message=_refusal(self.limit, exc)) from None
            except SharedStateUnavailable as exc:
                raise MCPError(code=INTERNAL_ERROR, message=str(exc)) from None
        return await call_next(ctx)


async def _count(rate: Any, limit: int) -> None:
    try:
        await rate.hit(current_caller(), limit, RATE_WINDOW)
    except RateLimited as exc:
        raise ToolError(_refusal(limit, exc)) from None
    except SharedStateUnavailable as exc:
        raise ToolError(str(exc)) from None


def _refusal(limit: int, exc: RateLimited) -> str:
    return (
        f"Rate limit reached: this server allows {limit} requests per minute per caller (tool calls, "
        "resource reads, prompts, completions and subscriptions together). "
        f"Retry in {max(1, round(exc.retry_after))} s."
    )


def _first(group: BaseExceptionGroup[Any]) -> BaseException:
    leaf: BaseException = group
    while isinstance(leaf, BaseExceptionGroup):
        leaf = leaf.exceptions[0]
    return leaf
