"""Pydantic models of the Replicas API (wire field names; unknown fields and enum values kept)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from replicas_mcp.client.models._base import ApiModel, OpenStr
from replicas_mcp.client.models.chats import (
    CanvasContent,
    CanvasItem,
    ChatList,
    ChatQueue,
    HistoryEvent,
    HistoryPage,
    QueuedMessage,
    QueueMutation,
    ReplicaChat,
    ReplicaHooks,
)
from replicas_mcp.client.models.events import (
    ChatSummaries,
    EngineChatSummary,
    EngineErrorInfo,
    EngineEvent,
    EngineStatusSnapshot,
)
from replicas_mcp.client.models.interactions import ChatState, PendingInteraction, pending_interaction
from replicas_mcp.client.models.replicas import (
    GitDiff,
    ProvisioningError,
    PullRequest,
    ReplicaDetails,
    ReplicaEnvironment,
    ReplicaListItem,
    ReplicaPage,
    RepositoryReference,
    RepositoryStatus,
    SendMessageResult,
    WorkspaceConfig,
)
from replicas_mcp.client.models.repositories import Repository, RepositorySet
from replicas_mcp.client.models.webhooks import WebhookEvent

if TYPE_CHECKING:
    from replicas_mcp.client.models.automations import (
        Automation,
        AutomationExecution,
        AutomationPage,
        ExecutionPage,
        TriggerResult,
    )
    from replicas_mcp.client.models.environments import (
        Environment,
        EnvironmentFile,
        EnvironmentMcp,
        EnvironmentSkill,
        EnvironmentVariable,
        HookStreamEvent,
        HookTestResult,
        SaveAndTestResult,
        SkillSearchResult,
        SkillsRegistry,
        StartHookRecord,
        StartHooks,
        WarmHookRecord,
        WarmHooks,
        WarmPoolConfig,
    )

# The configuration side's models load on first use (they are many, and most servers never need them).
_LAZY_MODULES = {
    "Automation": "automations",
    "AutomationExecution": "automations",
    "AutomationPage": "automations",
    "ExecutionPage": "automations",
    "TriggerResult": "automations",
    "Environment": "environments",
    "EnvironmentFile": "environments",
    "EnvironmentMcp": "environments",
    "EnvironmentSkill": "environments",
    "EnvironmentVariable": "environments",
    "HookStreamEvent": "environments",
    "HookTestResult": "environments",
    "SaveAndTestResult": "environments",
    "SkillSearchResult": "environments",
    "SkillsRegistry": "environments",
    "StartHookRecord": "environments",
    "StartHooks": "environments",
    "WarmHookRecord": "environments",
    "WarmHooks": "environments",
    "WarmPoolConfig": "environments",
}


def __getattr__(name: str) -> Any:
    module = _LAZY_MODULES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


__all__ = [
    "ApiModel",
    "Automation",
    "AutomationExecution",
    "AutomationPage",
    "CanvasContent",
    "CanvasItem",
    "ChatList",
    "ChatQueue",
    "ChatState",
    "ChatSummaries",
    "EngineChatSummary",
    "EngineErrorInfo",
    "EngineEvent",
    "EngineStatusSnapshot",
    "Environment",
    "EnvironmentFile",
    "EnvironmentMcp",
    "EnvironmentSkill",
    "EnvironmentVariable",
    "ExecutionPage",
    "GitDiff",
    "HistoryEvent",
    "HistoryPage",
    "HookStreamEvent",
    "HookTestResult",
    "OpenStr",
    "PendingInteraction",
    "ProvisioningError",
    "PullRequest",
    "QueueMutation",
    "QueuedMessage",
    "ReplicaChat",
    "ReplicaDetails",
    "ReplicaEnvironment",
    "ReplicaHooks",
    "ReplicaListItem",
    "ReplicaPage",
    "Repository",
    "RepositoryReference",
    "RepositorySet",
    "RepositoryStatus",
    "SaveAndTestResult",
    "SendMessageResult",
    "SkillSearchResult",
    "SkillsRegistry",
    "StartHookRecord",
    "StartHooks",
    "TriggerResult",
    "WarmHookRecord",
    "WarmHooks",
    "WarmPoolConfig",
    "WebhookEvent",
    "WorkspaceConfig",
    "pending_interaction",
]
