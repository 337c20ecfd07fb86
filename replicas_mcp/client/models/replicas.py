"""Replicas (workspaces): list items, details, repository statuses, messages."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from replicas_mcp.client.models._base import ApiModel, OpenStr
from replicas_mcp.client.models.chats import ReplicaChat

__all__ = [
    "ASLEEP_STATUSES",
    "TERMINAL_STATUSES",
    "CodingAgentValue",
    "GitDiff",
    "LifecyclePolicyValue",
    "ProvisioningError",
    "PullRequest",
    "ReplicaDetails",
    "ReplicaEnvironment",
    "ReplicaListItem",
    "ReplicaPage",
    "ReplicaSizeValue",
    "ReplicaSourceValue",
    "ReplicaStatusValue",
    "RepositoryReference",
    "RepositoryStatus",
    "SendMessageResult",
    "SendMessageStatusValue",
    "ThinkingLevelValue",
    "WorkspaceConfig",
]

ReplicaStatusValue = Literal["preparing", "active", "sleeping", "archived", "error"]
# Not running, but woken by a message or a details read (which is why reads check the list first).
ASLEEP_STATUSES = frozenset({"sleeping", "archived"})
# Cannot be woken or messaged: the workspace died.
TERMINAL_STATUSES = frozenset({"error"})
ReplicaSourceValue = Literal["api", "dashboard", "slack", "linear", "github", "gitlab", "automation"]
CodingAgentValue = Literal["claude", "codex", "cursor", "opencode", "pi"]
# An open enum fed by both documents: the guide lists `delete_when_done`, the contract
# `archive_when_done` and `sleep_when_done`; `default` and `delete_after_inactivity` are in both.
LifecyclePolicyValue = Literal[
    "default", "delete_when_done", "delete_after_inactivity", "archive_when_done", "sleep_when_done"
]
ThinkingLevelValue = Literal["low", "medium", "high", "xhigh", "max", "ultra", "ultracode"]
ReplicaSizeValue = Literal["small", "large"]
SendMessageStatusValue = Literal["sent", "queued", "waking"]


class RepositoryReference(ApiModel):
    id: str
    name: str
    url: str | None = None


class PullRequest(ApiModel):
    repository: str
    number: int
    url: str


class GitDiff(ApiModel):
    added: int = 0
    removed: int = 0
    full_diff: str | None = None


class RepositoryStatus(ApiModel):
    repository: str
    branch: str | None = None
    default_branch: str | None = None
    pr_urls: list[str] = Field(default_factory=list)
    start_hooks_completed: bool | None = None
    git_diff: GitDiff | None = None


class ReplicaEnvironment(ApiModel):
    engine_version: str | None = None
    files_uploaded: list[str] = Field(default_factory=list)
    env_vars_set: list[str] = Field(default_factory=list)
    skills_installed: list[str] = Field(default_factory=list)
    integrations: dict[str, Any] = Field(default_factory=dict)
    coding_agents: dict[str, Any] = Field(default_factory=dict)
    hooks: dict[str, Any] = Field(default_factory=dict)
    last_updated_at: str | None = None


class ProvisioningError(ApiModel):
    """`WorkspaceConfig.provisioning_error`: why a workspace that stays queryable went to `error`."""

    message: str | None = None


class WorkspaceConfig(ApiModel):
    """The contract's `WorkspaceConfig`: capabilities, preferences, and a captured provisioning error."""

    capabilities: dict[str, Any] = Field(default_factory=dict)
    preferences: dict[str, Any] = Field(default_factory=dict)
    provisioning_error: ProvisioningError | None = None


class ReplicaListItem(ApiModel):
    """A replica as the list endpoint shows it. Reading it never wakes the workspace."""

    id: str
    name: str
    status: OpenStr  # one of ReplicaStatusValue
    source: OpenStr | None = None  # one of ReplicaSourceValue
    created_at: str | None = None
    last_activity_at: str | None = None
    repositories: list[RepositoryReference] = Field(default_factory=list)
    pull_requests: list[PullRequest] = Field(default_factory=list)


class ReplicaDetails(ReplicaListItem):
    """A replica with its engine state; fetching it wakes a sleeping workspace."""

    coding_agent: OpenStr | None = None  # one of CodingAgentValue
    repository_statuses: list[RepositoryStatus] = Field(default_factory=list)
    waking: bool | None = None
    chats: list[ReplicaChat] = Field(default_factory=list)
    environment: ReplicaEnvironment | None = None
    lastChatMessage: dict[str, Any] | None = None

    @property
    def provisioning_error(self) -> str | None:
        """The failure text of a workspace in `error`, from `config.provisioning_error.message`.

        The contract documents that field in `WorkspaceConfig` ("captured when the workspace remains
        queryable in `error` status") but does not list `config` among `ReplicaDetails`' properties, so
        it is read from the untyped extras and may be absent: the `error` engine event
        (`EngineEvent.error_info`) and the `replica.error` webhook (`WebhookEvent.error_message`) carry
        the same text. A top-level `error_message` is NOT in the contract and is not read.
        """
        raw = (self.model_extra or {}).get("config")
        if not isinstance(raw, dict):
            return None
        try:
            config = WorkspaceConfig.model_validate(raw)
        except ValueError:
            return None
        error = config.provisioning_error
        return error.message if error is not None and error.message else None


class ReplicaPage(ApiModel):
    replicas: list[ReplicaListItem]
    total: int
    page: int
    limit: int
    total_pages: int


class SendMessageResult(ApiModel):
    status: OpenStr  # one of SendMessageStatusValue
    message_id: str | None = None
    position: int | None = None
    chat_id: str | None = None
