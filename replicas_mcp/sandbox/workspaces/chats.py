"""Chats, messages, queues and history of a replica's workspace.

A message is `sent` (runs now), `queued` (waits its turn; positions are 1-based, 1 runs next) or `waking`
(runs once a sleeping workspace is active). Leading `/plan`, `/goal`, `/fast` are stripped from the text
and set the message's flags. In strict mode a message to a chat whose turn is paused on a question
answers it (see `turns.py`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from typing import Any

from replicas_mcp.sandbox.clock import Clock
from replicas_mcp.sandbox.errors import bad_request, not_found
from replicas_mcp.sandbox.ids import IdFactory
from replicas_mcp.sandbox.workspaces import agent, shapes
from replicas_mcp.sandbox.workspaces.lifecycle import Lifecycle, sleeping_conflict
from replicas_mcp.sandbox.workspaces.records import Chat, ChatMessage, Replica, drop, pending
from replicas_mcp.sandbox.workspaces.turns import Turns

SLASH_COMMANDS = {"/plan": "plan_mode", "/goal": "goal_mode", "/fast": "fast_mode"}


@dataclass(frozen=True)
class MessageOptions:
    plan_mode: bool = False
    goal_mode: bool = False
    fast_mode: bool = False
    model: str | None = None
    thinking_level: str | None = None
    image_count: int = 0


@dataclass(frozen=True)
class HistoryPage:
    thread_id: str | None
    events: list[dict[str, Any]]
    total: int
    has_more: bool
    coding_agent: str


def strip_slash_commands(message: str, options: MessageOptions) -> tuple[str, MessageOptions]:
    """Leading /plan, /goal, /fast are stripped from the text and combined with the flags."""
    flags: dict[str, Any] = {}
    text = message.lstrip()
    while True:
        head, _, rest = text.partition(" ")
        if head not in SLASH_COMMANDS:
            break
        flags[SLASH_COMMANDS[head]] = True
        text = rest.lstrip()
    return text, replace(options, **flags)


class Chats:
    """The chats of one organization's replicas: creating them, accepting messages, queues, history."""

    def __init__(self, *, ids: IdFactory, lifecycle: Lifecycle, turns: Turns) -> None:
        self.ids = ids
        self.lifecycle = lifecycle
        self.turns = turns

    def new_chat(self, replica: Replica, provider: str, *, title: str, parent: str | None = None) -> Chat:
        now = Clock.iso()
        chat = Chat(
            id=self.ids.uuid(),
            provider=provider,
            title=title,
            created_at=now,
            updated_at=now,
            parent_chat_id=parent,
        )
        replica.chats[chat.id] = chat
        return chat

    def chat(self, replica: Replica, chat_id: str) -> Chat:
        chat = replica.chats.get(chat_id)
        if chat is None:
            raise not_found("Chat", chat_id)
        return chat

    def create_chat(
        self,
        replica: Replica,
        *,
        provider: str,
        title: str | None,
        parent: str | None = None,
        client_request_id: str | None = None,
    ) -> Chat:
        if parent is not None and parent not in replica.chats:
            raise not_found("Chat", parent)
        chat = self.new_chat(
            replica, provider, title=title or f"{provider} chat {len(replica.chats) + 1}", parent=parent
        )
        payload: dict[str, Any] = {"chat": shapes.chat_summary(chat)}
        if client_request_id is not None:
            payload["clientRequestId"] = client_request_id
        replica.events.publish("chat.created", payload)
        return chat

    def delete_chat(self, replica: Replica, chat_id: str) -> None:
        chat = self.chat(replica, chat_id)
        if chat.runner is not None and chat.runner is not asyncio.current_task():
            chat.runner.cancel()
        drop(pending(chat), "The chat was deleted before the agent answered the message")
        del replica.chats[chat_id]
        replica.events.publish("chat.deleted", {"chatId": chat_id})

    def send_message(
        self,
        replica: Replica,
        message: str,
        *,
        chat_id: str | None,
        coding_agent: str | None,
        options: MessageOptions,
        sender: str | None,
    ) -> dict[str, Any]:
        """Accept a message: `sent` (runs now), `queued` (waits its turn) or `waking` (runs after wake)."""
        if replica.status == "error":
            raise sleeping_conflict(replica)
        if not message.strip():
            raise bad_request("Missing required field 'message'", "Send the text for the agent in 'message'.")
        text, opts = strip_slash_commands(message, options)
        chat = self.chat(replica, chat_id) if chat_id is not None else self._chat_for(replica, coding_agent)
        if opts.goal_mode and chat.provider != "codex":
            raise bad_request(
                "goal_mode is only available for Codex", "Send it to a codex chat, or drop goal_mode."
            )
        if chat.pending_answer is not None and not chat.pending_answer.done():
            answer = self._answer(replica, chat, text, opts, sender=sender)
            return {"status": "sent", "message_id": answer.id, "position": 0, "chat_id": chat.id}
        waking = self.lifecycle.wake(replica)
        accepted = self.accept(replica, chat, text, opts, sender=sender)
        if waking:
            return {"status": "waking", "message_id": accepted.id, "position": None, "chat_id": chat.id}
        if chat.current is accepted:
            return {"status": "sent", "message_id": accepted.id, "position": 0, "chat_id": chat.id}
        return {
            "status": "queued",
            "message_id": accepted.id,
            "position": chat.queue.index(accepted) + 1,
            "chat_id": chat.id,
        }

    def _chat_for(self, replica: Replica, coding_agent: str | None) -> Chat:
        """The first chat of the requested agent (a new one if there is none); the first chat otherwise."""
        for chat in replica.chats.values():
            if coding_agent is None or chat.provider == coding_agent:
                return chat
        return self.create_chat(replica, provider=coding_agent or replica.coding_agent, title=None)

    def _answer(
        self, replica: Replica, chat: Chat, text: str, opts: MessageOptions, *, sender: str | None
    ) -> ChatMessage:
        """The message resolves the interactive tool call its chat's turn is paused on (strict mode)."""
        answer = self._message(replica, chat, text, opts, sender=sender)
        replica.events.publish(
            "chat.turn.accepted", {"chatId": chat.id, "messageId": answer.id, "queued": False, "position": 0}
        )
        assert chat.pending_answer is not None
        chat.pending_answer.set_result(text)
        return answer

    def _message(
        self, replica: Replica, chat: Chat, text: str, opts: MessageOptions, *, sender: str | None
    ) -> ChatMessage:
        now = Clock.iso()
        message = ChatMessage(
            id=self.ids.token("msg_", 16),
            text=text,
            queued_at=now,
            sender_user_id=sender,
            sender_display_name=sender,
            plan_mode=opts.plan_mode,
            goal_mode=opts.goal_mode,
            fast_mode=opts.fast_mode,
            model=opts.model,
            thinking_level=opts.thinking_level,
            image_count=opts.image_count,
        )
        if agent.plan_turn(text).fail_start_hook:
            replica.fail_start_hook_next_boot = True
        chat.last_message_text = text
        chat.updated_at = now
        replica.last_chat_message = {"text": text, "agent": chat.provider, "timestamp": now}
        replica.last_activity_at = now
        self.lifecycle.cancel_idle(replica)
        return message

    def accept(
        self, replica: Replica, chat: Chat, text: str, opts: MessageOptions, *, sender: str | None
    ) -> ChatMessage:
        accepted = self._message(replica, chat, text, opts, sender=sender)
        runs_now = replica.status == "active" and not chat.busy and not chat.queue
        if runs_now:
            chat.current = accepted
            chat.processing = True
            self.turns.start_runner(replica, chat)
        else:
            chat.queue.append(accepted)
        position = 0 if runs_now else chat.queue.index(accepted) + 1
        replica.events.publish(
            "chat.turn.accepted",
            {"chatId": chat.id, "messageId": accepted.id, "queued": not runs_now, "position": position},
        )
        return accepted

    # --- queue ---------------------------------------------------------------------------------------------

    def queue_remove(self, chat: Chat, message_id: str) -> list[ChatMessage]:
        """Remove a queued message; returns the queue left."""
        removed = [item for item in chat.queue if item.id == message_id]
        if not removed:
            raise not_found("Queued message", message_id)
        chat.queue = [item for item in chat.queue if item.id != message_id]
        drop(removed, "The message was removed from the queue before it ran")
        return list(chat.queue)

    def queue_clear(self, chat: Chat) -> bool:
        """Empty the queue; True if there was anything in it."""
        changed = bool(chat.queue)
        removed, chat.queue = chat.queue, []
        drop(removed, "The queue was cleared before the message ran")
        return changed

    def queue_reorder(self, chat: Chat, message_id: str, position: int) -> bool:
        """Move a queued message to a zero-based position; True if it moved."""
        index = next((i for i, item in enumerate(chat.queue) if item.id == message_id), None)
        if index is None:
            raise not_found("Queued message", message_id)
        if not 0 <= position < len(chat.queue):
            raise bad_request(
                "Invalid field 'position'",
                f"'position' is zero-based and must be between 0 and {len(chat.queue) - 1} for this queue.",
            )
        item = chat.queue.pop(index)
        chat.queue.insert(position, item)
        return index != position

    # --- history -------------------------------------------------------------------------------------------

    def history(self, replica: Replica, *, chat_id: str | None, limit: int, offset: int) -> HistoryPage:
        """Paged from the end: offset 0 is the newest `limit` events, returned oldest first."""
        thread: str | None
        if chat_id is not None:
            chat = self.chat(replica, chat_id)
            events, thread, provider = chat.history, chat.id, chat.provider
        else:
            events = sorted(
                (event for chat in replica.chats.values() for event in chat.history),
                key=lambda e: str(e["timestamp"]),
            )
            first = next(iter(replica.chats.values()), None)
            thread, provider = (first.id, first.provider) if first else (None, replica.coding_agent)
        total = len(events)
        end = max(total - offset, 0)
        start = max(end - limit, 0)
        return HistoryPage(thread, events[start:end], total, start > 0, provider)
