"""The workspace records kept per organization, and their wire shapes (the spec's JSON objects).

Plain dataclasses: the rules that change them live in `state.py`; `app.py` only serialises them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio

from replicas_mcp.sandbox.agent import CanvasFile
from replicas_mcp.sandbox.events import EventLog
from replicas_mcp.sandbox.webhooks import WebhookTarget

# The guide documents default/delete_when_done/delete_after_inactivity, the spec default/archive_when_done/
# sleep_when_done/delete_after_inactivity: the sandbox accepts the union.
LIFECYCLE_POLICIES = (
    "default",
    "delete_when_done",
    "delete_after_inactivity",
    "archive_when_done",
    "sleep_when_done",
)
SIZES = ("small", "large")
SOURCES = ("api", "dashboard", "slack", "linear", "github", "gitlab", "automation")
STATUSES = ("active", "sleeping", "archived", "preparing", "error")


@dataclass
class ChatMessage:
    """A message accepted for a chat: waiting in its queue, or being processed."""

    id: str
    text: str
    queued_at: str
    sender_user_id: str | None = None
    sender_display_name: str | None = None
    plan_mode: bool = False
    fast_mode: bool = False
    goal_mode: bool = False
    model: str | None = None
    thinking_level: str | None = None
    image_count: int = 0
    # Told the outcome of this message's turn, once (the automation execution that launched the replica).
    on_outcome: Callable[[str | None], None] | None = field(default=None, repr=False, compare=False)

    def report(self, error: str | None) -> None:
        """Tell the listener (if any) how this message's turn ended: None (completed) or an error."""
        listener, self.on_outcome = self.on_outcome, None
        if listener is not None:
            listener(error)

    def wire(self) -> dict[str, Any]:
        body: dict[str, Any] = {"id": self.id, "message": self.text, "queuedAt": self.queued_at}
        if self.sender_user_id:
            body["senderUserId"] = self.sender_user_id
        if self.sender_display_name:
            body["senderDisplayName"] = self.sender_display_name
        return body


@dataclass
class Chat:
    id: str
    provider: str
    title: str
    created_at: str
    updated_at: str
    parent_chat_id: str | None = None
    processing: bool = False
    awaiting_input: bool = False
    last_message_text: str | None = None
    current: ChatMessage | None = None
    queue: list[ChatMessage] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    runner: asyncio.Task[None] | None = None
    # Strict mode: set while the current turn is paused on an interactive tool call (AskUserQuestion);
    # the next message sent to this chat resolves it with its text.
    pending_answer: asyncio.Future[str] | None = field(default=None, repr=False)

    @property
    def busy(self) -> bool:
        return self.current is not None or self.runner is not None

    def wire(self, *, strict: bool = False) -> dict[str, Any]:
        """ReplicaChat; outside strict mode also `awaitingInput` and `lastMessageText` (extensions)."""
        body: dict[str, Any] = {
            "id": self.id,
            "provider": self.provider,
            "title": self.title,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "processing": self.processing,
        }
        if not strict:
            body.update(awaitingInput=self.awaiting_input, lastMessageText=self.last_message_text)
        return body

    def engine_summary(self) -> dict[str, Any]:
        """EngineChatSummary (the engine's camelCase shape, used in events)."""
        return {
            "id": self.id,
            "provider": self.provider,
            "title": self.title,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "processing": self.processing,
            "awaitingInput": self.awaiting_input,
            "parentChatId": self.parent_chat_id,
            "lastMessageText": self.last_message_text,
        }


@dataclass
class RepoState:
    id: str
    name: str
    url: str
    default_branch: str
    branch: str
    pr_urls: list[str] = field(default_factory=list)
    diff: str = ""
    added: int = 0
    removed: int = 0
    start_hooks_completed: bool = False

    def reference(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "url": self.url}

    def status(self, *, full_diff: bool) -> dict[str, Any]:
        """RepositoryStatus; `full_diff` only with include=diffs (the text can be long)."""
        git_diff = None
        if self.diff:
            git_diff = {
                "added": self.added,
                "removed": self.removed,
                "full_diff": self.diff if full_diff else "",
            }
        return {
            "repository": self.name,
            "branch": self.branch,
            "default_branch": self.default_branch,
            "pr_urls": list(self.pr_urls),
            "start_hooks_completed": self.start_hooks_completed,
            "git_diff": git_diff,
        }

    def engine_state(self) -> dict[str, Any]:
        """EngineRepoState."""
        return {
            "name": self.name,
            "path": f"/home/replicas/workspaces/{self.name}",
            "defaultBranch": self.default_branch,
            "currentBranch": self.branch,
            "prUrls": list(self.pr_urls),
            "gitDiff": {"added": self.added, "removed": self.removed, "fullDiff": self.diff}
            if self.diff
            else None,
            "startHooksCompleted": self.start_hooks_completed,
            "provider": "gitlab" if "gitlab" in self.url else "github",
        }


@dataclass
class Replica:
    id: str
    org_id: str
    name: str
    source: str
    user_id: str | None
    environment_id: str
    created_at: str
    seq: int
    coding_agent: str
    model: str | None
    thinking_level: str | None
    lifecycle_policy: str
    size: str | None
    config: dict[str, Any]
    webhook: WebhookTarget | None
    events: EventLog
    status: str = "preparing"
    last_activity_at: str | None = None
    chats: dict[str, Chat] = field(default_factory=dict)
    repos: list[RepoState] = field(default_factory=list)
    pull_requests: list[dict[str, Any]] = field(default_factory=list)
    canvas: dict[str, CanvasFile] = field(default_factory=dict)
    warm_hook_logs: list[dict[str, Any]] = field(default_factory=list)
    start_hook_logs: list[dict[str, Any]] = field(default_factory=list)
    error_message: str | None = None
    last_chat_message: dict[str, Any] | None = None
    turns_completed: int = 0
    fail_start_hook_next_boot: bool = False
    waking: bool = False
    sleep_requested: bool = False  # a [[sleep]] turn: sleep once the turn has finished
    started_at: float = 0.0
    settled: anyio.Event = field(default_factory=anyio.Event)  # set once active (or error/deleted) first time
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    idle_task: asyncio.Task[Any] | None = None

    @property
    def engine_reachable(self) -> bool:
        return self.status in ("active", "preparing")

    def list_item(self, *, strict: bool = False) -> dict[str, Any]:
        """ReplicaListItem; outside strict mode also `user_id` and `environment_id` (extensions)."""
        body = {
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "source": self.source,
            "created_at": self.created_at,
            "last_activity_at": self.last_activity_at,
            "repositories": [repo.reference() for repo in self.repos],
            "pull_requests": [dict(pr) for pr in self.pull_requests],
        }
        if not strict:
            body.update(user_id=self.user_id, environment_id=self.environment_id)
        return body

    def webhook_summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "source": self.source,
            "created_at": self.created_at,
        }
