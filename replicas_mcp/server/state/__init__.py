"""What every handler shares: the lifespan's `AppState`, and how a tool reaches it.

The package also holds what the server learns and shares across calls (caches, stream fan-out, dedupe,
locks, caps), each behind a small interface with an in-process implementation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mcp.server.mcpserver import Context

from replicas_mcp.config import Settings
from replicas_mcp.server.state.knowledge import KnowledgeStore, MemoryKnowledge

if TYPE_CHECKING:
    from replicas_mcp.client import ReplicasClient
    from replicas_mcp.server.state.streams import StreamHub
    from replicas_mcp.server.watcher import ReplicaWatcher


@dataclass
class AppState:
    """Created once by the lifespan (per process on stdio/HTTP; per connection in-memory)."""

    client: ReplicasClient
    settings: Settings
    watcher: ReplicaWatcher
    # Strings that must never reach output (the API key in use), removed from error texts as a last resort.
    secrets: tuple[str, ...] = field(default=())
    # What the server has learned of each caller's replicas (ids, names, statuses): lookups read it first.
    knowledge: KnowledgeStore = field(default_factory=MemoryKnowledge)
    # The shared upstream event streams (one per caller and replica), None outside a running lifespan.
    streams: StreamHub | None = None


ToolContext = Context[AppState, Any]


def context_in(kwargs: Mapping[str, Any]) -> Context[Any, Any] | None:
    """The request `Context` among a tool call's keyword arguments (wrappers receive it with the rest)."""
    return next((value for value in kwargs.values() if isinstance(value, Context)), None)


def app_state(ctx: Context[Any, Any]) -> AppState:
    state = ctx.request_context.lifespan_context
    if not isinstance(state, AppState):
        raise TypeError("the server's lifespan did not provide an AppState")
    return state


def client_of(ctx: Context[Any, Any]) -> ReplicasClient:
    return app_state(ctx).client
