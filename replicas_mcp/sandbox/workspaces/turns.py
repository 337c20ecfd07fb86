"""Turns: a chat's queue runs one message at a time; each turn plans from its text (see `agent.py`).

A turn emits, on the event stream: `chat.turn.started`, `chat.updated`, `chat.turn.delta` per agent event,
`repo.status.changed` when code changed, `chat.turn.completed`, `chat.updated`. In strict mode a question
(`[[ask:]]`) pauses the turn on its pending `AskUserQuestion` tool call until a message answers it.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import Any

from replicas_mcp.sandbox.clock import Clock
from replicas_mcp.sandbox.fidelity import Fidelity
from replicas_mcp.sandbox.ids import IdFactory
from replicas_mcp.sandbox.workspaces import agent, shapes
from replicas_mcp.sandbox.workspaces.lifecycle import Lifecycle
from replicas_mcp.sandbox.workspaces.records import Chat, ChatMessage, Replica, drop


class Turns:
    def __init__(self, *, ids: IdFactory, clock: Clock, fidelity: Fidelity, lifecycle: Lifecycle) -> None:
        self.ids = ids
        self.clock = clock
        self.fidelity = fidelity
        self.lifecycle = lifecycle
        lifecycle.start_runner = self.start_runner
        self._pr_number = 100

    def start_runner(self, replica: Replica, chat: Chat) -> None:
        chat.runner = self.lifecycle.spawn(replica, self._drain(replica, chat), f"chat {chat.id}")

    async def _drain(self, replica: Replica, chat: Chat) -> None:
        """Run the chat's current message, then its queue in order, while the workspace stays active."""
        try:
            while chat.current is not None and replica.status == "active":
                await self._run_turn(replica, chat, chat.current)
                chat.current = chat.queue.pop(0) if chat.queue and replica.status == "active" else None
        finally:
            chat.runner = None
            if chat.current is not None and replica.status != "active":
                chat.queue.insert(0, chat.current)  # interrupted by sleep: it runs again after the wake
            chat.current = None
            if chat.processing:
                chat.processing = False
                if replica.events.closed is False:
                    replica.events.publish("chat.updated", {"chat": shapes.chat_summary(chat)})
            if replica.status == "active":
                self.lifecycle.after_work(replica)

    async def _run_turn(self, replica: Replica, chat: Chat, message: ChatMessage) -> None:
        plan = agent.plan_turn(message.text, has_repository=bool(replica.repos))
        provider = chat.provider
        chat.processing = True
        chat.awaiting_input = False
        replica.events.publish("chat.turn.started", {"chatId": chat.id, "messageId": message.id})
        replica.events.publish("chat.updated", {"chat": shapes.chat_summary(chat)})
        replica.events.publish("engine.status.changed", {"status": self.lifecycle.engine_status(replica)})
        step = plan.seconds / 5

        def emit(event: dict[str, Any] | None) -> None:
            if event is not None:
                if self.fidelity.strict:
                    event = agent.contract_event(event)
                chat.history.append(event)
                replica.events.publish("chat.turn.delta", {"chatId": chat.id, "event": event})

        emit(agent.user_event(provider, message.text))
        await self.clock.sleep(step)
        emit(agent.thinking_event(provider, plan.thinking))
        await self.clock.sleep(step)
        new_prs: list[str] = []
        while True:
            if plan.workspace_error is not None:
                self.lifecycle.fail(replica, plan.workspace_error)
                return
            new_prs += await self._work(replica, chat, plan, emit, step)
            if plan.question is None:
                break
            tool_id = self.ids.token("toolu_", 20)
            emit(agent.tool_use_event(provider, tool_id, "AskUserQuestion", {"question": plan.question}))
            chat.awaiting_input = True
            if not self.fidelity.strict:
                break  # the sandbox's own shape: the turn ends asking, the chat says awaitingInput
            # The contract's: the agent is paused on the pending tool call, `processing` stays true, and
            # the next message to this chat answers it (its text becomes the tool result).
            answer = await self._wait_for_answer(replica, chat)
            emit(agent.tool_result_event(provider, tool_id, answer))
            plan = agent.plan_answer(plan.text, answer, has_repository=bool(replica.repos))
        emit(agent.assistant_text_event(provider, plan.reply))
        emit(agent.result_event(provider, plan.reply, is_error=plan.turn_error))
        await self.clock.sleep(step)
        replica.turns_completed += 1
        now = Clock.iso()
        chat.updated_at = now
        replica.last_activity_at = now
        replica.events.publish("chat.turn.completed", {"chatId": chat.id, "isComplete": not plan.turn_error})
        message.report(f"The agent's turn failed: {plan.reply}" if plan.turn_error else None)
        chat.processing = bool(chat.queue)
        replica.events.publish("chat.updated", {"chat": shapes.chat_summary(chat)})
        replica.events.publish("engine.status.changed", {"status": self.lifecycle.engine_status(replica)})
        self.lifecycle.notify(
            replica,
            "replica.turn_completed",
            {
                "repository_statuses": [
                    {
                        "repository": r.name,
                        "branch": r.branch,
                        "default_branch": r.default_branch,
                        "pr_urls": list(r.pr_urls),
                    }
                    for r in replica.repos
                ],
                "pr_urls": new_prs,
            },
        )
        if plan.sleep_after:
            # The agent goes down with the workspace; nothing else runs in this chat.
            dropped, chat.queue = chat.queue, []
            drop(dropped, "The workspace went to sleep before the message ran ([[sleep]])")
            replica.sleep_requested = True

    async def _work(
        self,
        replica: Replica,
        chat: Chat,
        plan: agent.TurnPlan,
        emit: Callable[[dict[str, Any] | None], None],
        step: float,
    ) -> list[str]:
        """The turn's changes: code edits (and a pull request), then Canvas files. Returns new PR URLs."""
        provider = chat.provider
        new_prs: list[str] = []
        if plan.branch is not None:
            for state in replica.repos:
                state.branch = plan.branch
        if plan.edits_code and replica.repos:
            repo = replica.repos[0]
            tool_id = self.ids.token("toolu_", 20)
            diff, added, removed = agent.code_change(repo.name, replica.turns_completed + 1, plan.text)
            emit(agent.tool_use_event(provider, tool_id, "Edit", {"file_path": "src/sandbox_changes.py"}))
            await self.clock.sleep(step)
            repo.diff += diff
            repo.added += added
            repo.removed += removed
            emit(agent.tool_result_event(provider, tool_id, f"Applied edit: +{added} -{removed}"))
            if plan.open_pr:
                self._pr_number += 1
                url = f"{repo.url.rstrip('/')}/pull/{self._pr_number}"
                repo.pr_urls.append(url)
                replica.pull_requests.append({"repository": repo.name, "number": self._pr_number, "url": url})
                new_prs.append(url)
            replica.events.publish(
                "repo.status.changed", {"repos": [shapes.repo_engine_state(r) for r in replica.repos]}
            )
        await self.clock.sleep(step)
        for index, kind in enumerate(plan.canvas):
            item = agent.canvas_file(kind, len(replica.canvas) + 1, plan.text)
            if index == 0 and plan.canvas_name is not None:
                item = dataclasses.replace(item, filename=plan.canvas_name)
            replica.canvas[item.filename] = item
            tool_id = self.ids.token("toolu_", 20)
            emit(
                agent.tool_use_event(
                    provider, tool_id, "Write", {"file_path": f"~/.replicas/canvas/{item.filename}"}
                )
            )
            emit(agent.tool_result_event(provider, tool_id, f"Wrote {item.size_bytes} bytes"))
        return new_prs

    async def _wait_for_answer(self, replica: Replica, chat: Chat) -> str:
        """Pause the turn until a message answers the pending interactive tool call (strict mode)."""
        chat.pending_answer = asyncio.get_running_loop().create_future()
        chat.updated_at = Clock.iso()
        replica.events.publish("chat.updated", {"chat": shapes.chat_summary(chat)})
        replica.events.publish("engine.status.changed", {"status": self.lifecycle.engine_status(replica)})
        try:
            return await chat.pending_answer
        finally:
            # Answered, or cancelled by a sleep (the message then runs again, and asks again, after a wake).
            chat.pending_answer = None
            chat.awaiting_input = False
            if not replica.events.closed:
                replica.events.publish("chat.updated", {"chat": shapes.chat_summary(chat)})
