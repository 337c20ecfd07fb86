"""What every handler shares: the lifespan's `AppState`, and how a tool reaches it.

The package also holds what the server learns and shares across calls (caches, stream fan-out, dedupe,
locks, caps), each behind a small interface with an in-process implementation."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mcp.server.mcpserver import Context

from replicas_mcp.config import Settings
from replicas_mcp.server.caller import caller_client, current_caller
from replicas_mcp.server.state.knowledge import KnowledgeStore, MemoryKnowledge
from replicas_mcp.server.state.shared import SharedState
from replicas_mcp.server.state.view import KnowingClient, Memo

if TYPE_CHECKING:
    from anyio.abc import TaskGroup

    from replicas_mcp.client import ReplicasClient
    from replicas_mcp.server.state.directory import ReplicaDirectory
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
    # What instances of a fleet share (Redis with --redis-url); in process otherwise (state/shared.py).
    shared: SharedState = field(default_factory=SharedState)
    # What the server has learned of each caller's replicas (ids, names, statuses): lookups read it first.
    knowledge: KnowledgeStore = field(default_factory=MemoryKnowledge)
    # The shared upstream event streams (one per caller and replica), None outside a running lifespan.
    streams: StreamHub | None = None
    # Answers replica lookups from the knowledge; None: the client's own lookups (list scans).
    directory: ReplicaDirectory | None = None
    # Results that nothing has changed since (`state.view.unless_changed`), shared by every call of a caller.
    memo: Memo = field(default_factory=Memo)
    # The lifespan's task group, for per-call helpers that must not be joined on a call's path (heartbeats).
    background: TaskGroup | None = None

    def client_for_caller(self) -> ReplicasClient:
        """The client to act with for the current request's caller: in byo-key mode a view of the shared
        pool bound to the key this request carries (and only that key), otherwise the server's own client;
        taught by and answering from the caller's knowledge (`state.view.KnowingClient`). The view is bound
        to this caller, so it can be kept beyond the request (a watch acts for the caller that started it)."""
        base = caller_client(self.client) if self.settings.auth == "byo-key" else self.client
        if self.directory is None:
            return base
        return KnowingClient(base, self.directory, self.streams, caller=current_caller(), memo=self.memo)


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
    """The client a tool acts with for this request's caller (see `AppState.client_for_caller`)."""
    return app_state(ctx).client_for_caller()
