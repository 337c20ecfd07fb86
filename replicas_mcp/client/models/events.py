"""Events from a replica's engine stream (GET /v1/replica/{id}/events), as the contract defines them.

Where the contract carries what a product needs to know about a replica, it is here, typed:

- a chat's state (`EngineChatSummary`: `processing`, and `awaitingInput`, which exists ONLY in the event
  stream, not in the REST `ReplicaChat`) from `chat.created` / `chat.updated` (`EngineEvent.chat_summary`);
- the engine's counters (`EngineStatusSnapshot`) from `engine.status.changed`;
- a failure's text (`EngineErrorInfo`: code, message) from the `error` event.

`ChatSummaries` folds a stream's chat events into the current summary of every chat it has seen.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

from pydantic import Field, ValidationError

from replicas_mcp.client.models._base import ApiModel, OpenStr

__all__ = [
    "ChatSummaries",
    "EngineChatSummary",
    "EngineErrorInfo",
    "EngineEvent",
    "EngineEventTypeValue",
    "EngineStatusSnapshot",
]

_M = TypeVar("_M", bound=ApiModel)

EngineEventTypeValue = Literal[
    "engine.ready",
    "engine.status.changed",
    "repo.discovered",
    "repo.status.changed",
    "chat.created",
    "chat.updated",
    "chat.deleted",
    "chat.turn.accepted",
    "chat.turn.started",
    "chat.turn.delta",
    "chat.turn.completed",
    "chat.interrupted",
    "hooks.started",
    "hooks.progress",
    "hooks.completed",
    "hooks.failed",
    "hooks.status",
    "preview.changed",
    "error",
]


class EngineChatSummary(ApiModel):
    """A chat as the engine reports it in `chat.created` / `chat.updated` (contract `EngineChatSummary`).

    `awaitingInput`: the agent made an interactive tool call (AskUserQuestion, ExitPlanMode) and is
    paused until it is resolved; `processing` stays true meanwhile.
    """

    id: str
    provider: OpenStr | None = None
    title: str | None = None
    createdAt: str | None = None
    updatedAt: str | None = None
    processing: bool = False
    awaitingInput: bool = False
    parentChatId: str | None = None
    lastMessageText: str | None = None


class EngineStatusSnapshot(ApiModel):
    """The engine's counters from `engine.status.changed` (contract `EngineStatusSnapshot`)."""

    uptimeSeconds: float | None = None
    hasActiveSSHSessions: bool | None = None
    activeSseClients: int | None = None
    chatsTotal: int | None = None
    chatsProcessing: int | None = None
    reposTotal: int | None = None
    hooksRunning: bool | None = None
    desktopReady: bool | None = None


class EngineErrorInfo(ApiModel):
    """The payload of an `error` event: a machine code and the failure's text."""

    code: str = ""
    message: str = ""
    details: str | None = None


class EngineEvent(ApiModel):
    """One engine event: a common envelope; `type` says what `payload` holds (open set)."""

    id: str = ""
    ts: str | None = None
    type: OpenStr  # one of EngineEventTypeValue, or newer types
    payload: dict[str, Any] = Field(default_factory=dict)

    @property
    def chat_id(self) -> str | None:
        """The chat this event concerns: `payload.chatId`, else `payload.chat.id`, else None."""
        direct = self.payload.get("chatId")
        if isinstance(direct, str):
            return direct
        chat = self.payload.get("chat")
        if isinstance(chat, dict) and isinstance(chat.get("id"), str):
            return str(chat["id"])
        return None

    @property
    def chat_summary(self) -> EngineChatSummary | None:
        """The chat's summary carried by `chat.created` / `chat.updated` (None for other events)."""
        if self.type not in ("chat.created", "chat.updated"):
            return None
        return _parsed(EngineChatSummary, self.payload.get("chat"))

    @property
    def status_snapshot(self) -> EngineStatusSnapshot | None:
        """The engine's counters carried by `engine.status.changed` (None for other events)."""
        if self.type != "engine.status.changed":
            return None
        return _parsed(EngineStatusSnapshot, self.payload.get("status"))

    @property
    def error_info(self) -> EngineErrorInfo | None:
        """Code and message of an `error` event (None for other events)."""
        if self.type != "error":
            return None
        return _parsed(EngineErrorInfo, self.payload)


def _parsed(model: type[_M], data: object) -> _M | None:
    if not isinstance(data, dict):
        return None
    try:
        return model.model_validate(data)
    except ValidationError:
        return None


class ChatSummaries:
    """The current summary of every chat seen on one replica's stream, folded from its chat events.

    Feed it every event (`apply`); `chat.created` / `chat.updated` replace a chat's summary and
    `chat.deleted` drops it. The stream sends summaries when a chat changes, so a chat that has not
    changed since the stream opened is not known here: combine with `client.chats.states` for those.
    """

    def __init__(self) -> None:
        self.chats: dict[str, EngineChatSummary] = {}

    def apply(self, event: EngineEvent) -> bool:
        """Fold one event in; True when it changed a chat's summary."""
        summary = event.chat_summary
        if summary is not None:
            changed = self.chats.get(summary.id) != summary
            self.chats[summary.id] = summary
            return changed
        if event.type == "chat.deleted" and event.chat_id is not None:
            return self.chats.pop(event.chat_id, None) is not None
        return False

    def awaiting_input(self) -> list[EngineChatSummary]:
        """The chats whose agent is paused on an interactive tool call (a question, a plan to approve)."""
        return [chat for chat in self.chats.values() if chat.awaitingInput]

    @property
    def processing(self) -> bool:
        """True while any known chat is doing work (a chat awaiting input counts: the contract says so)."""
        return any(chat.processing for chat in self.chats.values())
