"""Workspaces of one organization: the replicas it holds (moto-style backend; records in, records out).

`Workspaces` creates and finds replicas; `Lifecycle` (lifecycle.py) moves them through their states,
`Turns` (turns.py) runs the agent, `Chats` (chats.py) takes messages and keeps queues and history. The
routes (routes.py) render the wire shapes (shapes.py).

Choices where the guide and the spec disagree (also in docs/sandbox.md):
- Engine-proxy reads (chats, queue, history, hooks, canvas, events) answer 409 while the workspace is
  sleeping, archived or in error, as the guide says (`wake_reads="contract"` changes chats and history);
  messages, `GET /v1/replica/{id}` and `/wake` wake a sleeping workspace instead (the spec's behaviour).
  The 409 `error` says which case it is.
- `error` replicas stay listed and readable (the spec), not soft-deleted (the guide).
"""

from __future__ import annotations

import logging
from typing import Any

import anyio

from replicas_mcp.sandbox.clock import Clock
from replicas_mcp.sandbox.errors import ApiError, bad_request, not_found
from replicas_mcp.sandbox.fidelity import Fidelity
from replicas_mcp.sandbox.ids import IdFactory
from replicas_mcp.sandbox.launcher import LaunchRequest, OutcomeListener
from replicas_mcp.sandbox.ports import OrgConfigPort
from replicas_mcp.sandbox.runtime import TaskRunner
from replicas_mcp.sandbox.tenancy import Caller
from replicas_mcp.sandbox.webhooks import WebhookDispatcher, WebhookTarget
from replicas_mcp.sandbox.workspaces import agent
from replicas_mcp.sandbox.workspaces.chats import Chats, MessageOptions, strip_slash_commands
from replicas_mcp.sandbox.workspaces.events import EventLog
from replicas_mcp.sandbox.workspaces.lifecycle import Lifecycle, Timing, sleeping_conflict
from replicas_mcp.sandbox.workspaces.records import Replica, RepoState
from replicas_mcp.sandbox.workspaces.turns import Turns

__all__ = ["MessageOptions", "Timing", "Workspaces"]

logger = logging.getLogger("replicas_mcp.sandbox")


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
        self.timing = timing
        self.replicas: dict[str, Replica] = {}
        self.lifecycle = Lifecycle(
            clock=clock,
            config=config,
            runner=runner,
            webhooks=webhooks,
            timing=timing,
            replicas=self.replicas,
        )
        self.turns = Turns(ids=ids, clock=clock, fidelity=self.fidelity, lifecycle=self.lifecycle)
        self.chats = Chats(ids=ids, lifecycle=self.lifecycle, turns=self.turns)
        self._seq = 0

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
        chat = self.chats.new_chat(replica, provider, title=name)
        replica.fail_start_hook_next_boot = agent.plan_turn(message).fail_start_hook
        self.replicas[replica.id] = replica
        text, opts = strip_slash_commands(
            message, options or MessageOptions(model=model, thinking_level=thinking_level)
        )
        initial = self.chats.accept(replica, chat, text, opts, sender=user_id)
        initial.on_outcome = on_first_turn
        self.lifecycle.spawn(replica, self.lifecycle.boot(replica, waking=False), f"boot {replica.id}")
        logger.info("replica %s (%s) created in org %s", replica.id, name, self.org_id)
        return replica

    def launch(self, request: LaunchRequest, on_finished: OutcomeListener | None = None) -> str:
        """`ReplicaLauncher`: start a replica for an automation run; returns its id at once.

        `on_finished` hears how the initial message's turn ended (see `ReplicaLauncher.launch`).
        """
        if request.org_id != self.org_id:
            raise ApiError(500, "Launcher used for the wrong organization", f"expected {self.org_id}")
        replica = self.create(
            name=request.name,
            message=request.message,
            environment_id=request.environment_id,
            coding_agent=request.coding_agent,
            model=request.model,
            thinking_level=request.thinking_level,
            lifecycle_policy=request.lifecycle_policy,
            size=request.size,
            user_id=request.user_id,
            source=request.source,
            on_first_turn=on_finished,
        )
        return replica.id

    # --- lifecycle (see lifecycle.py) ----------------------------------------------------------------------

    def wake(self, replica: Replica) -> bool:
        """Start waking a sleeping or archived replica; True if a wake started (409 for an error one)."""
        return self.lifecycle.wake(replica)

    def delete(self, replica_id: str) -> None:
        """Idempotent for this organization's replicas; 404 for ids it never had."""
        self.lifecycle.delete(replica_id)

    def force_status(self, replica: Replica, status: str, message: str | None = None) -> None:
        """Fault injection: put a replica into `sleeping`, `archived`, `error` or (wake it to) `active`."""
        self.lifecycle.force_status(replica, status, message)

    def fail(self, replica: Replica, message: str) -> None:
        self.lifecycle.fail(replica, message)

    async def wait_settled(self, replica: Replica, budget: float) -> None:
        """Wait (at most `budget` s) until the replica is first active, fails or is deleted: legacy create."""
        with anyio.move_on_after(budget):
            await replica.settled.wait()
