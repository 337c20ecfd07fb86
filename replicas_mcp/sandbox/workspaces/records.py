"""The workspace records kept per organization: replicas, their chats, queued messages and repositories.

Plain dataclasses: the rules that change them live in `store.py`, `lifecycle.py` and `turns.py`; their
wire shapes (the spec's JSON objects) are rendered by `shapes.py`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import anyio

from replicas_mcp.sandbox.webhooks import WebhookTarget
from replicas_mcp.sandbox.workspaces.agent import CanvasFile
from replicas_mcp.sandbox.workspaces.events import EventLog

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


def pending(chat: Chat) -> list[ChatMessage]:
    """The chat's running message (if any) and its queue, in order."""
    return [*([chat.current] if chat.current is not None else []), *chat.queue]


def drop(messages: Iterable[ChatMessage], reason: str) -> None:
    """These messages will never finish: their listeners (automation executions) hear why."""
    for message in messages:
        message.report(reason)
