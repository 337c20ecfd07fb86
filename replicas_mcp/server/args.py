"""Argument types shared by several tools: one definition, one description, the same schema everywhere."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

ReplicaId = Annotated[str, Field(description="From list_replicas")]
OptionalChatId = Annotated[str | None, Field(description="From get_replica; default: main chat")]
Wake = Annotated[bool, Field(description="Wake it if asleep (slow)")]
EnvironmentId = Annotated[str, Field(description="From list_environments, or 'global'")]
AutomationId = Annotated[str, Field(description="From list_automations")]
Reveal = Annotated[bool, Field(description="Show secret values (not on a read-only server)")]
