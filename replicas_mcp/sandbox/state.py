"""Workspaces of one organization: the replica lifecycle, chats, queues and turns (moto-style backend).

Lifecycle: `preparing` (boot: hooks run, repositories discovered) → `active` → `sleeping` after
`Timing.idle_sleep_after` simulated seconds without work → woken by a message, `GET /v1/replica/{id}` or
`POST /wake` (back through `preparing`). `error` is terminal: reached through a `[[error]]` directive or
fault injection; the replica stays readable. Lifecycle policies act when the agent has nothing left to do:
`delete_when_done` deletes, `sleep_when_done` sleeps, `archive_when_done` archives, and
`delete_after_inactivity` deletes instead of sleeping when idle.

Choices where the guide and the spec disagree (also in docs/sandbox.md):
- Engine-proxy reads (chats, queue, history, hooks, canvas, events) answer 409 while the workspace is
  sleeping, archived or in error, as the guide says; messages, `GET /v1/replica/{id}` and `/wake` wake a
  sleeping workspace instead (the spec's behaviour). The 409 `error` says which case it is.
- `error` replicas stay listed and readable (the spec), not soft-deleted (the guide).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, replace
from typing import Any

import anyio

from replicas_mcp.sandbox import agent, hookrunner
from replicas_mcp.sandbox.clock import Clock
from replicas_mcp.sandbox.errors import ApiError, bad_request, conflict, not_found
from replicas_mcp.sandbox.events import EventLog
from replicas_mcp.sandbox.fidelity import Fidelity
from replicas_mcp.sandbox.ids import IdFactory
from replicas_mcp.sandbox.launcher import OutcomeListener
from replicas_mcp.sandbox.models import Chat, ChatMessage, Replica, RepoState
from replicas_mcp.sandbox.ports import OrgConfigPort
from replicas_mcp.sandbox.runtime import TaskRunner
from replicas_mcp.sandbox.tenancy import Caller
from replicas_mcp.sandbox.webhooks import WebhookDispatcher, WebhookTarget

logger = logging.getLogger("replicas_mcp.sandbox")

SLASH_COMMANDS = {"/plan": "plan_mode", "/goal": "goal_mode", "/fast": "fast_mode"}


@dataclass(frozen=True)
class Timing:
    """Simulated durations in seconds, before the clock's time scale is applied."""

    boot_seconds: float = 2.0
    wake_seconds: float = 1.0
    idle_sleep_after: float = 600.0
    heartbeat_seconds: float = 15.0


@dataclass(frozen=True)
class MessageOptions:
    plan_mode: bool = False
    goal_mode: bool = False
    fast_mode: bool = False
    model: str | None = None
    thinking_level: str | None = None
    image_count: int = 0


def sleeping_conflict(replica: Replica) -> ApiError:
    if replica.status == "error":
        return conflict(
            "Workspace is in error state",
            replica.error_message or "The workspace failed and cannot be woken.",
        )
    return conflict(
        "Workspace is sleeping",
        f"Workspace {replica.id} is {replica.status}. Wake it with POST /v1/replica/{replica.id}/wake "
        "(or send it a message), then retry once it is active.",
    )


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


class Workspaces:
    """All replicas of one organization. Implements `ReplicaLauncher` for the automation store."""

    def __init__(
        self,
        *,
        org_id: str,
        ids: IdFactory,
        clock: Clock,
        config: OrgConfigPort,
        runner: TaskRunner,
        webhooks: WebhookDispatcher,
        timing: Timing,
        fidelity: Fidelity | None = None,
    ) -> None:
        self.org_id = org_id
        self.fidelity = fidelity or Fidelity()
        self.ids = ids
        self.clock = clock
        self.config = config
        self.runner = runner
        self.webhooks = webhooks
        self.timing = timing
        self.replicas: dict[str, Replica] = {}
        self.deleted: set[str] = set()
        self._seq = 0
        self._pr_number = 100

    # --- reading -------------------------------------------------------------------------------------------

    def get(self, replica_id: str) -> Replica:
        replica = self.replicas.get(replica_id)
        if replica is None:
            raise not_found("Replica", replica_id)
        return replica

    def engine(self, replica_id: str) -> Replica:
        """The replica, if its engine can answer (not sleeping, archived or in error); else 409."""
        replica = self.get(replica_id)
        if not replica.engine_reachable:
            raise sleeping_conflict(replica)
        return replica

    def matching(self, *, status: str | None, source: str | None, user_id: str | None) -> list[Replica]:
        found = [
            replica
            for replica in self.replicas.values()
            if (status is None or replica.status == status)
            and (source is None or replica.source == source)
            and (user_id is None or replica.user_id == user_id)
        ]
        return sorted(found, key=lambda replica: replica.seq, reverse=True)

    # --- creating ------------------------------------------------------------------------------------------

    def create(
        self,
        *,
        name: str,
        message: str,
        environment_id: str | None,
        repository_ids: list[str] | None = None,
        repository_set_id: str | None = None,
        coding_agent: str | None = None,
        model: str | None = None,
        thinking_level: str | None = None,
        lifecycle_policy: str | None = None,
        size: str | None = None,
        config: dict[str, Any] | None = None,
        webhook: WebhookTarget | None = None,
        user_id: str | None = None,
        source: str = "api",
        options: MessageOptions | None = None,
        caller: Caller | None = None,
        on_first_turn: OutcomeListener | None = None,
    ) -> Replica:
        if not name or any(char.isspace() for char in name):
            raise bad_request(
                "Invalid replica name",
                f"The name must not contain whitespace: use e.g. {'-'.join(name.split()) or 'fix-bug'!r}.",
            )
        if not message.strip():
            raise bad_request(
                "Missing required field 'message'", "Send the initial task for the agent in 'message'."
            )
        if environment_id is not None and caller is not None:
            environment = self.config.visible_environment(environment_id, caller)
        elif environment_id is not None:
            environment = self.config.environment(environment_id)
        elif repository_ids or repository_set_id:
            environment = self.config.environment_for_repositories(repository_ids, repository_set_id)
        else:
            raise bad_request(
                "Missing required field 'environment_id'",
                "Pass the id of an environment (GET /v1/environments; 'global' works too).",
            )
        provider = coding_agent or "claude"
        workspace_config = dict(config or {})
        workspace_config.setdefault("capabilities", {}).setdefault("pr_followups", source != "automation")
        self._seq += 1
        now = Clock.iso()
        replica_id = self.ids.uuid()
        replica = Replica(
            id=replica_id,
            org_id=self.org_id,
            name=name,
            source=source,
            user_id=user_id,
            environment_id=environment.id,
            created_at=now,
            seq=self._seq,
            coding_agent=provider,
            model=model,
            thinking_level=thinking_level,
            lifecycle_policy=lifecycle_policy or "default",
            size=size,
            config=workspace_config,
            webhook=webhook,
            events=EventLog(replica_id),
            last_activity_at=now,
        )
        replica.repos = [
            RepoState(
                id=repo.id, name=repo.name, url=repo.url, default_branch=repo.default_branch, branch=name
            )
            for repo in self.config.repositories_for(environment.id)
        ]
        chat = self._new_chat(replica, provider, title=name)
        replica.fail_start_hook_next_boot = agent.plan_turn(message).fail_start_hook
        self.replicas[replica.id] = replica
        text, opts = strip_slash_commands(
            message, options or MessageOptions(model=model, thinking_level=thinking_level)
        )
        initial = self._accept(replica, chat, text, opts, sender=user_id)
        initial.on_outcome = on_first_turn
        self._spawn(replica, self._boot(replica, waking=False), f"boot {replica.id}")
        logger.info("replica %s (%s) created in org %s", replica.id, name, self.org_id)
        return replica

    def launch(
        self,
        *,
        org_id: str,
        name: str,
        environment_id: str,
        message: str,
        coding_agent: str | None,
        model: str | None,
        thinking_level: str | None,
        lifecycle_policy: str | None,
        size: str | None,
        user_id: str | None,
        source: str = "automation",
        on_finished: OutcomeListener | None = None,
    ) -> str:
        """`ReplicaLauncher`: start a replica for an automation run; returns its id at once.

        `on_finished` hears how the initial message's turn ended (see `ReplicaLauncher.launch`).
        """
        if org_id != self.org_id:
            raise ApiError(500, "Launcher used for the wrong organization", f"expected {self.org_id}")
        replica = self.create(
            name=name,
            message=message,
            environment_id=environment_id,
            coding_agent=coding_agent,
            model=model,
            thinking_level=thinking_level,
            lifecycle_policy=lifecycle_policy,
            size=size,
            user_id=user_id,
            source=source,
            on_first_turn=on_finished,
        )
        return replica.id

    # --- chats and messages --------------------------------------------------------------------------------

    def _new_chat(self, replica: Replica, provider: str, *, title: str, parent: str | None = None) -> Chat:
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
        chat = self._new_chat(
            replica, provider, title=title or f"{provider} chat {len(replica.chats) + 1}", parent=parent
        )
        payload: dict[str, Any] = {"chat": chat.engine_summary()}
        if client_request_id is not None:
            payload["clientRequestId"] = client_request_id
        replica.events.publish("chat.created", payload)
        return chat

    def delete_chat(self, replica: Replica, chat_id: str) -> None:
        chat = self.chat(replica, chat_id)
        if chat.runner is not None and chat.runner is not asyncio.current_task():
            chat.runner.cancel()
        _drop(_pending(chat), "The chat was deleted before the agent answered the message")
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
        waking = self.wake(replica)
        accepted = self._accept(replica, chat, text, opts, sender=sender)
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
        self._cancel_idle(replica)
        return message

    def _accept(
        self, replica: Replica, chat: Chat, text: str, opts: MessageOptions, *, sender: str | None
    ) -> ChatMessage:
        accepted = self._message(replica, chat, text, opts, sender=sender)
        runs_now = replica.status == "active" and not chat.busy and not chat.queue
        if runs_now:
            chat.current = accepted
            chat.processing = True
            self._start_runner(replica, chat)
        else:
            chat.queue.append(accepted)
        position = 0 if runs_now else chat.queue.index(accepted) + 1
        replica.events.publish(
            "chat.turn.accepted",
            {"chatId": chat.id, "messageId": accepted.id, "queued": not runs_now, "position": position},
        )
        return accepted

    # --- queue ---------------------------------------------------------------------------------------------

    def queue_view(self, chat: Chat) -> dict[str, Any]:
        return {
            "chatId": chat.id,
            "processing": chat.processing,
            "queue": [item.wire() for item in chat.queue],
        }

    def queue_remove(self, chat: Chat, message_id: str) -> dict[str, Any]:
        removed = [item for item in chat.queue if item.id == message_id]
        if not removed:
            raise not_found("Queued message", message_id)
        chat.queue = [item for item in chat.queue if item.id != message_id]
        _drop(removed, "The message was removed from the queue before it ran")
        return {"success": True, "queue": [item.wire() for item in chat.queue]}

    def queue_clear(self, chat: Chat) -> dict[str, Any]:
        changed = bool(chat.queue)
        removed, chat.queue = chat.queue, []
        _drop(removed, "The queue was cleared before the message ran")
        return {"success": changed, "queue": []}

    def queue_reorder(self, chat: Chat, message_id: str, position: int) -> dict[str, Any]:
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
        return {"success": index != position, "queue": [entry.wire() for entry in chat.queue]}

    # --- history -------------------------------------------------------------------------------------------

    def history(self, replica: Replica, *, chat_id: str | None, limit: int, offset: int) -> dict[str, Any]:
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
        return {
            "thread_id": thread,
            "events": events[start:end],
            "total": total,
            "has_more": start > 0,
            "coding_agent": provider,
            "waking": False,
        }

    # --- lifecycle -----------------------------------------------------------------------------------------

    def wake(self, replica: Replica) -> bool:
        """Start waking a sleeping or archived replica; True if a wake started. Error replicas cannot wake."""
        if replica.status == "error":
            raise sleeping_conflict(replica)
        if replica.status not in ("sleeping", "archived"):
            return False
        replica.status = "preparing"
        replica.waking = True
        replica.events.reopen()
        self._spawn(replica, self._boot(replica, waking=True), f"wake {replica.id}")
        logger.info("replica %s waking", replica.id)
        return True

    def delete(self, replica_id: str) -> None:
        """Idempotent for this organization's replicas; 404 for ids it never had."""
        if replica_id in self.deleted:
            return
        replica = self.get(replica_id)
        self._stop_work(replica)
        for chat in replica.chats.values():
            _drop(_pending(chat), "The replica was deleted before the agent finished the message")
        del self.replicas[replica_id]
        self.deleted.add(replica_id)
        replica.events.close()
        replica.settled.set()
        self._notify(replica, "replica.deleted", {})
        logger.info("replica %s deleted", replica_id)

    def force_status(self, replica: Replica, status: str, message: str | None = None) -> None:
        """Fault injection: put a replica into `sleeping`, `archived`, `error` or (wake it to) `active`."""
        if status == "error":
            self.fail(replica, message or "The workspace sandbox died (injected fault)")
        elif status in ("sleeping", "archived"):
            if replica.status == "error":
                raise sleeping_conflict(replica)
            self._go_to_sleep(replica, status)
        elif status == "active":
            if replica.status == "error":
                replica.status, replica.error_message = "sleeping", None
            self.wake(replica)
        else:
            raise bad_request("Invalid status", "status must be one of: sleeping, archived, error, active")

    def fail(self, replica: Replica, message: str) -> None:
        if replica.status == "error" or replica.id not in self.replicas:
            return
        self._stop_work(replica)
        for chat in replica.chats.values():
            _drop(_pending(chat), message)
        replica.status = "error"
        replica.waking = False
        replica.error_message = message
        replica.config.setdefault("provisioning_error", {})["message"] = message
        replica.events.publish("error", {"code": "workspace_error", "message": message})
        replica.events.close()
        replica.settled.set()
        self._notify(replica, "replica.error", {"message": message})
        logger.info("replica %s entered error state", replica.id)

    def _go_to_sleep(self, replica: Replica, status: str = "sleeping") -> None:
        if replica.id not in self.replicas:
            return
        self._stop_work(replica)
        for chat in replica.chats.values():
            chat.processing = False
        replica.status = status
        replica.waking = False
        replica.events.publish("engine.status.changed", {"status": self._engine_status(replica)})
        replica.events.close()  # open streams end: the engine is gone until the next wake
        logger.info("replica %s is now %s", replica.id, status)

    async def _boot(self, replica: Replica, *, waking: bool) -> None:
        await self.clock.sleep(self.timing.wake_seconds if waking else self.timing.boot_seconds)
        replica.started_at = self.clock.monotonic()
        replica.events.publish("engine.ready", {"version": "v1"})
        replica.events.publish("repo.discovered", {"repos": [repo.engine_state() for repo in replica.repos]})
        self._run_hooks(replica)
        replica.status = "active"
        replica.waking = False
        replica.last_activity_at = Clock.iso()
        replica.events.publish("engine.status.changed", {"status": self._engine_status(replica)})
        replica.settled.set()
        self._notify(replica, "replica.ready", {})
        for chat in replica.chats.values():
            if chat.queue and not chat.busy:
                chat.current = chat.queue.pop(0)
                chat.processing = True
                self._start_runner(replica, chat)
        self._after_work(replica)

    def _run_hooks(self, replica: Replica) -> None:
        """Record the warm and start hook runs of a boot or wake (outcomes from `hookrunner.simulate`).

        Global hooks apply to every workspace and run before the environment's own; repository hooks
        (from each repository's replicas.json) run last.
        """
        now = Clock.iso()
        replica.events.publish("hooks.started", {"running": True, "completed": False})
        for hook_type, hook_name, script in self._warm_hooks(replica):
            outcome = hookrunner.simulate(script)
            replica.warm_hook_logs.append(
                {
                    "hookType": hook_type,
                    "hookName": hook_name,
                    "hookScript": script,
                    **_log_fields(outcome, now),
                }
            )
        failing = replica.fail_start_hook_next_boot
        replica.fail_start_hook_next_boot = False
        succeeded = True
        for hook_type, hook_name, script in self._start_hooks(replica, failing=failing):
            outcome = hookrunner.simulate(script)
            succeeded = succeeded and outcome.succeeded
            replica.start_hook_logs.append(
                {
                    "hookType": hook_type,
                    "hookName": hook_name,
                    "repoName": hook_name,
                    "hookCommands": [step.command for step in outcome.steps],
                    **_log_fields(outcome, now),
                }
            )
        for repo in replica.repos:
            repo.start_hooks_completed = True
        replica.events.publish(
            "hooks.completed" if succeeded else "hooks.failed", {"running": False, "completed": True}
        )
        replica.events.publish(
            "repo.status.changed", {"repos": [repo.engine_state() for repo in replica.repos]}
        )

    def _warm_hooks(self, replica: Replica) -> list[tuple[str, str, str]]:
        hooks: list[tuple[str, str, str]] = []
        global_id = self.config.environment("global").id
        for environment_id in dict.fromkeys([global_id, replica.environment_id]):
            script = self.config.warm_hook_script(environment_id)
            if script:
                hooks.append(("global", "global" if environment_id == global_id else "environment", script))
        for repo in self.config.repositories_for(replica.environment_id):
            if repo.warm_hook:
                hooks.append(("repository", repo.name, repo.warm_hook))
        return hooks

    def _start_hooks(self, replica: Replica, *, failing: bool) -> list[tuple[str, str, str]]:
        global_id = self.config.environment("global").id
        scripts = [
            self.config.start_hook_script(env_id)
            for env_id in dict.fromkeys([global_id, replica.environment_id])
        ]
        environment_script = "\n".join(script for script in scripts if script)
        if failing:
            environment_script += "\necho 'start hook failed on purpose ([[fail-start-hook]])'\nexit 1\n"
        hooks = [("environment", "environment", environment_script)] if environment_script.strip() else []
        for repo in self.config.repositories_for(replica.environment_id):
            if repo.start_hook:
                hooks.append(("repository", repo.name, repo.start_hook))
        return hooks

    # --- turns ---------------------------------------------------------------------------------------------

    def _start_runner(self, replica: Replica, chat: Chat) -> None:
        chat.runner = self._spawn(replica, self._drain(replica, chat), f"chat {chat.id}")

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
                    replica.events.publish("chat.updated", {"chat": chat.engine_summary()})
            if replica.status == "active":
                self._after_work(replica)

    async def _run_turn(self, replica: Replica, chat: Chat, message: ChatMessage) -> None:
        plan = agent.plan_turn(message.text)
        provider = chat.provider
        chat.processing = True
        chat.awaiting_input = False
        replica.events.publish("chat.turn.started", {"chatId": chat.id, "messageId": message.id})
        replica.events.publish("chat.updated", {"chat": chat.engine_summary()})
        replica.events.publish("engine.status.changed", {"status": self._engine_status(replica)})
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
                self.fail(replica, plan.workspace_error)
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
            plan = agent.plan_answer(plan.text, answer)
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
        replica.events.publish("chat.updated", {"chat": chat.engine_summary()})
        replica.events.publish("engine.status.changed", {"status": self._engine_status(replica)})
        self._notify(
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
            _drop(dropped, "The workspace went to sleep before the message ran ([[sleep]])")
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
                "repo.status.changed", {"repos": [r.engine_state() for r in replica.repos]}
            )
        await self.clock.sleep(step)
        for kind in plan.canvas:
            item = agent.canvas_file(kind, len(replica.canvas) + 1, plan.text)
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
        replica.events.publish("chat.updated", {"chat": chat.engine_summary()})
        replica.events.publish("engine.status.changed", {"status": self._engine_status(replica)})
        try:
            return await chat.pending_answer
        finally:
            # Answered, or cancelled by a sleep (the message then runs again, and asks again, after a wake).
            chat.pending_answer = None
            chat.awaiting_input = False
            if not replica.events.closed:
                replica.events.publish("chat.updated", {"chat": chat.engine_summary()})

    def _after_work(self, replica: Replica) -> None:
        """Apply the lifecycle policy once nothing is running or waiting in any chat."""
        if replica.id not in self.replicas:
            return
        if replica.sleep_requested and replica.status == "active":
            replica.sleep_requested = False
            self._go_to_sleep(replica)
            return
        if replica.status != "active" or any(chat.busy or chat.queue for chat in replica.chats.values()):
            return
        if replica.turns_completed > 0:
            policy = replica.lifecycle_policy
            if policy == "delete_when_done":
                self.delete(replica.id)
                return
            if policy in ("sleep_when_done", "archive_when_done"):
                self._go_to_sleep(replica, "sleeping" if policy == "sleep_when_done" else "archived")
                return
        self._schedule_idle(replica)

    def _schedule_idle(self, replica: Replica) -> None:
        self._cancel_idle(replica)
        replica.idle_task = self._spawn(replica, self._idle_timer(replica), f"idle {replica.id}")

    def _cancel_idle(self, replica: Replica) -> None:
        task, replica.idle_task = replica.idle_task, None
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def _idle_timer(self, replica: Replica) -> None:
        await self.clock.sleep(self.timing.idle_sleep_after)
        replica.idle_task = None
        if replica.status != "active" or any(chat.busy or chat.queue for chat in replica.chats.values()):
            return
        if replica.lifecycle_policy == "delete_after_inactivity":
            self.delete(replica.id)
        else:
            self._go_to_sleep(replica)

    def _stop_work(self, replica: Replica) -> None:
        current = asyncio.current_task()
        for task in list(replica.tasks):
            if task is not current:
                task.cancel()
        replica.idle_task = None

    def _spawn(
        self, replica: Replica, coro: Coroutine[Any, Any, None], name: str
    ) -> asyncio.Task[Any] | None:
        task = self.runner.spawn(coro, name=name)
        if task is not None:
            replica.tasks.add(task)
            task.add_done_callback(replica.tasks.discard)
        return task

    def _engine_status(self, replica: Replica) -> dict[str, Any]:
        """EngineStatusSnapshot."""
        uptime = (
            (self.clock.monotonic() - replica.started_at) / self.clock.scale if replica.started_at else 0.0
        )
        return {
            "uptimeSeconds": round(uptime, 3),
            "hasActiveSSHSessions": False,
            "activeSseClients": replica.events.subscribers,
            "chatsTotal": len(replica.chats),
            "chatsProcessing": sum(1 for chat in replica.chats.values() if chat.processing),
            "reposTotal": len(replica.repos),
            "hooksRunning": replica.status == "preparing",
        }

    def _notify(self, replica: Replica, event_type: str, data: dict[str, Any]) -> None:
        if replica.webhook is not None:
            self.webhooks.emit(replica.webhook, event_type, replica.webhook_summary(), data)

    async def wait_settled(self, replica: Replica, budget: float) -> None:
        """Wait (at most `budget` s) until the replica is first active, fails or is deleted: legacy create."""
        with anyio.move_on_after(budget):
            await replica.settled.wait()


def _log_fields(outcome: hookrunner.HookOutcome, executed_at: str) -> dict[str, Any]:
    output = outcome.output if outcome.provision_error is None else outcome.provision_error
    return {
        "output": output,
        "outputTruncated": False,
        "outputTotalChars": len(output),
        "exitCode": outcome.exit_code,
        "timedOut": outcome.timed_out,
        "executedAt": executed_at,
    }


def _pending(chat: Chat) -> list[ChatMessage]:
    """The chat's running message (if any) and its queue, in order."""
    return [*([chat.current] if chat.current is not None else []), *chat.queue]


def _drop(messages: Iterable[ChatMessage], reason: str) -> None:
    """These messages will never finish: their listeners (automation executions) hear why."""
    for message in messages:
        message.report(reason)
