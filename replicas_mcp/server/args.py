"""Argument types shared by several tools: one definition, one description, the same schema everywhere."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from replicas_mcp.server.environment_refs import missing_environment, resolve_environment
from replicas_mcp.server.state import app_state
from replicas_mcp.server.tools.arguments import Id as Id
from replicas_mcp.server.tools.arguments import Resolved

# Ids are typed `Id` (checked for shape before any request, kept as sent).
# No description: the name says what it is, and a wrong id's error points to list_replicas.
ReplicaId = Id
OptionalChatId = Annotated[Id | None, Field(description="From get_replica; default: main chat")]
Wake = Annotated[bool, Field(description="Wake it if asleep (slow)")]
# An environment: its id, `global`, or its name (resolved before the call, for every tool that takes one:
# see environment_refs.py). Tasks that need a repository are not pointed at `global` (TaskEnvironmentId).
ENVIRONMENT = Resolved(resolve_environment, missing_environment)
EnvironmentId = Annotated[Id, ENVIRONMENT, Field(description="From list_environments, or 'global'")]
TaskEnvironmentId = Annotated[Id, ENVIRONMENT, Field(min_length=1, description="From list_environments")]
AutomationId = Annotated[Id, Field(description="From list_automations")]
Reveal = Annotated[bool, Field(description="Show secret values (not on a read-only server)")]
PageNumber = Annotated[int, Field(ge=1)]
PageSize = Annotated[int, Field(ge=1, le=100)]


def next_page(page: int, total_pages: int) -> int | None:
    """The page after `page` of a list endpoint's result, or None on the last one."""
    return page + 1 if page < total_pages else None


def read_only(ctx: Any) -> bool:
    """Whether the server handling this call is read-only."""
    return bool(app_state(ctx).settings.read_only)


def may_wake(ctx: Any, wake: bool) -> bool:
    """`wake=true` counts only on a writable server: `--read-only` never wakes (or bills) a workspace."""
    return wake and not read_only(ctx)
