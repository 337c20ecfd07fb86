"""The replica lifecycle: boot and wake (with their hooks), sleep, the error state, deletion, idle timers.

`preparing` (boot: hooks run, repositories discovered) → `active` → `sleeping` after
`Timing.idle_sleep_after` simulated seconds without work → woken by a message, `GET /v1/replica/{id}` or
`POST /wake` (back through `preparing`). `error` is terminal: reached through a `[[error]]` directive or
fault injection; the replica stays readable. Lifecycle policies act when the agent has nothing left to do:
`delete_when_done` deletes, `sleep_when_done` sleeps, `archive_when_done` archives, and
`delete_after_inactivity` deletes instead of sleeping when idle.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from replicas_mcp.sandbox.clock import Clock
from replicas_mcp.sandbox.environments import hookrunner
from replicas_mcp.sandbox.errors import ApiError, bad_request, conflict, not_found
from replicas_mcp.sandbox.ports import OrgConfigPort
from replicas_mcp.sandbox.runtime import TaskRunner
from replicas_mcp.sandbox.webhooks import WebhookDispatcher
from replicas_mcp.sandbox.workspaces import shapes
from replicas_mcp.sandbox.workspaces.records import Chat, Replica, drop, pending

logger = logging.getLogger("replicas_mcp.sandbox")


@dataclass(frozen=True)
class Timing:
    """Simulated durations in seconds, before the clock's time scale is applied."""

    boot_seconds: float = 2.0
    wake_seconds: float = 1.0
    idle_sleep_after: float = 600.0
    heartbeat_seconds: float = 15.0


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


class Lifecycle:
    """Moves the replicas of one organization through their states; shares `replicas` with `Workspaces`."""

    def __init__(
        self,
        *,
        clock: Clock,
        config: OrgConfigPort,
        runner: TaskRunner,
        webhooks: WebhookDispatcher,
        timing: Timing,
        replicas: dict[str, Replica],
    ) -> None:
        self.clock = clock
        self.config = config
        self.runner = runner
        self.webhooks = webhooks
        self.timing = timing
        self.replicas = replicas
        self.deleted: set[str] = set()
        # Starts a chat's queue running; `Turns` sets it (turns need the lifecycle, boots need turns).
        self.start_runner: Callable[[Replica, Chat], None] = _no_runner

    def wake(self, replica: Replica) -> bool:
        """Start waking a sleeping or archived replica; True if a wake started. Error replicas cannot wake."""
        if replica.status == "error":
            raise sleeping_conflict(replica)
        if replica.status not in ("sleeping", "archived"):
            return False
        replica.status = "preparing"
        replica.waking = True
        replica.events.reopen()
        self.spawn(replica, self.boot(replica, waking=True), f"wake {replica.id}")
        logger.info("replica %s waking", replica.id)
        return True

    def delete(self, replica_id: str) -> None:
        """Idempotent for this organization's replicas; 404 for ids it never had."""
        if replica_id in self.deleted:
            return
        replica = self.replicas.get(replica_id)
        if replica is None:
            raise not_found("Replica", replica_id)
        self.stop_work(replica)
        for chat in replica.chats.values():
            drop(pending(chat), "The replica was deleted before the agent finished the message")
        del self.replicas[replica_id]
        self.deleted.add(replica_id)
        replica.events.close()
        replica.settled.set()
        self.notify(replica, "replica.deleted", {})
        logger.info("replica %s deleted", replica_id)

    def force_status(self, replica: Replica, status: str, message: str | None = None) -> None:
        """Fault injection: put a replica into `sleeping`, `archived`, `error` or (wake it to) `active`."""
        if status == "error":
            self.fail(replica, message or "The workspace sandbox died (injected fault)")
        elif status in ("sleeping", "archived"):
            if replica.status == "error":
                raise sleeping_conflict(replica)
            self.go_to_sleep(replica, status)
        elif status == "active":
            if replica.status == "error":
                replica.status, replica.error_message = "sleeping", None
            self.wake(replica)
        else:
            raise bad_request("Invalid status", "status must be one of: sleeping, archived, error, active")

    def fail(self, replica: Replica, message: str) -> None:
        if replica.status == "error" or replica.id not in self.replicas:
            return
        self.stop_work(replica)
        for chat in replica.chats.values():
            drop(pending(chat), message)
        replica.status = "error"
        replica.waking = False
        replica.error_message = message
        replica.config.setdefault("provisioning_error", {})["message"] = message
        replica.events.publish("error", {"code": "workspace_error", "message": message})
        replica.events.close()
        replica.settled.set()
        self.notify(replica, "replica.error", {"message": message})
        logger.info("replica %s entered error state", replica.id)

    def go_to_sleep(self, replica: Replica, status: str = "sleeping") -> None:
        if replica.id not in self.replicas:
            return
        self.stop_work(replica)
        for chat in replica.chats.values():
            chat.processing = False
        replica.status = status
        replica.waking = False
        replica.events.publish("engine.status.changed", {"status": self.engine_status(replica)})
        replica.events.close()  # open streams end: the engine is gone until the next wake
        logger.info("replica %s is now %s", replica.id, status)

    async def boot(self, replica: Replica, *, waking: bool) -> None:
        await self.clock.sleep(self.timing.wake_seconds if waking else self.timing.boot_seconds)
        replica.started_at = self.clock.monotonic()
        replica.events.publish("engine.ready", {"version": "v1"})
        replica.events.publish(
            "repo.discovered", {"repos": [shapes.repo_engine_state(repo) for repo in replica.repos]}
        )
        self._run_hooks(replica)
        replica.status = "active"
        replica.waking = False
        replica.last_activity_at = Clock.iso()
        replica.events.publish("engine.status.changed", {"status": self.engine_status(replica)})
        replica.settled.set()
        self.notify(replica, "replica.ready", {})
        for chat in replica.chats.values():
            if chat.queue and not chat.busy:
                chat.current = chat.queue.pop(0)
                chat.processing = True
                self.start_runner(replica, chat)
        self.after_work(replica)

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
            "repo.status.changed", {"repos": [shapes.repo_engine_state(repo) for repo in replica.repos]}
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

    def after_work(self, replica: Replica) -> None:
        """Apply the lifecycle policy once nothing is running or waiting in any chat."""
        if replica.id not in self.replicas:
            return
        if replica.sleep_requested and replica.status == "active":
            replica.sleep_requested = False
            self.go_to_sleep(replica)
            return
        if replica.status != "active" or any(chat.busy or chat.queue for chat in replica.chats.values()):
            return
        if replica.turns_completed > 0:
            policy = replica.lifecycle_policy
            if policy == "delete_when_done":
                self.delete(replica.id)
                return
            if policy in ("sleep_when_done", "archive_when_done"):
                self.go_to_sleep(replica, "sleeping" if policy == "sleep_when_done" else "archived")
                return
        self.schedule_idle(replica)

    def schedule_idle(self, replica: Replica) -> None:
        self.cancel_idle(replica)
        replica.idle_task = self.spawn(replica, self._idle_timer(replica), f"idle {replica.id}")

    def cancel_idle(self, replica: Replica) -> None:
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
            self.go_to_sleep(replica)

    def stop_work(self, replica: Replica) -> None:
        current = asyncio.current_task()
        for task in list(replica.tasks):
            if task is not current:
                task.cancel()
        replica.idle_task = None

    def spawn(self, replica: Replica, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[Any] | None:
        task = self.runner.spawn(coro, name=name)
        if task is not None:
            replica.tasks.add(task)
            task.add_done_callback(replica.tasks.discard)
        return task

    def engine_status(self, replica: Replica) -> dict[str, Any]:
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

    def notify(self, replica: Replica, event_type: str, data: dict[str, Any]) -> None:
        if replica.webhook is not None:
            self.webhooks.emit(replica.webhook, event_type, shapes.webhook_summary(replica), data)


def _no_runner(replica: Replica, chat: Chat) -> None:
    raise RuntimeError("Lifecycle.start_runner is set by Turns")


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
