"""Starting a delegated task exactly once: stable names, look up by name, then create.

A task without a name gets one derived from its environment and text (`fix-the-login-3f2a9c1b`), so
sending the same task again, after a timeout or a lost answer, finds the replica instead of starting a
second one. Launches of one name are serialized (two concurrent calls cannot both miss the lookup): within
this process by default, across every instance of a fleet when the server passes `hold` (a name lock in
the shared store); the client's create also reconciles an unknown outcome by name.

A name the caller chose says nothing about the task, so an existing replica of that name is reused only
for the same task: `NameTaken` otherwise. Its task is known when it was started through this server (the
delegation memory, memory.py: shared by a fleet), else read from its history's first user message while it
is awake. A sleeping or archived
replica's history cannot be read without waking it, so there the name alone decides.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio

from replicas_mcp.client.errors import CreateOutcomeUnknownError, ReplicasError
from replicas_mcp.delegation.memory import PROCESS_MEMORY, Memory
from replicas_mcp.delegation.questions import user_message_text

if TYPE_CHECKING:
    from replicas_mcp.client import ReplicasClient
    from replicas_mcp.client.models import ReplicaListItem

SLUG_WORDS = 5
SLUG_LIMIT = 40
CREATE_TIMEOUT = 60.0
FIRST_EVENTS = 5  # the oldest history events searched for the task (it is the first user message)
_SLASH_COMMANDS = ("/plan", "/goal", "/fast")


class NameTaken(ValueError):
    """A replica of this name exists and works on a different task (or on this one in another environment)."""

    def __init__(self, existing: ReplicaListItem, *, environment_id: str | None = None) -> None:
        self.difference = (
            "a different task" if environment_id is None else f"this task in environment {environment_id}"
        )
        super().__init__(f"replica {existing.name} ({existing.id}) already exists with {self.difference}")
        self.existing = existing
        self.environment_id = environment_id  # set when the task is the same but the environment is not


@dataclass(frozen=True)
class TaskSpec:
    environment_id: str
    task: str
    name: str | None = None
    coding_agent: str | None = None
    model: str | None = None
    thinking_level: str | None = None
    plan_mode: bool = False

    @property
    def replica_name(self) -> str:
        return self.name or stable_name(self.environment_id, self.task)


# Markup addressed to the agent, not words of the task: `[[pr]]`-style directives, and leading slash commands.
_DIRECTIVES = re.compile(r"\[\[[^\]]*\]\]")


def _task_words(text: str) -> list[str]:
    """The words a name is made of: the task's, without directives or a leading slash command."""
    words = _DIRECTIVES.sub(" ", text).split()
    while words and words[0].lower() in _SLASH_COMMANDS:
        words.pop(0)
    return re.findall(r"[a-z0-9]+", " ".join(words).lower())


def stable_name(environment_id: str, task: str) -> str:
    """A readable name that is the same for the same environment and task text (whitespace aside). The
    digest covers the whole text; the readable part leaves out directives (`[[pr]]`) and slash commands."""
    text = " ".join(task.split())
    digest = hashlib.sha256(f"{environment_id}\n{text}".encode()).hexdigest()[:8]
    words = _task_words(text)[:SLUG_WORDS]
    slug = "-".join(words)[:SLUG_LIMIT].strip("-") or "task"
    return f"{slug}-{digest}"


class _NameLocks:
    """One lock per replica name while someone holds it; forgotten when nobody does."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[anyio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, name: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(name, (anyio.Lock(), 0))
        self._locks[name] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[name]
            if users <= 1:
                del self._locks[name]
            else:
                self._locks[name] = (lock, users - 1)


_NAMES = _NameLocks()
# Exclusive access to a replica name while its lookup and create run (`_NAMES.hold` in one process).
NameHold = Callable[[str], AbstractAsyncContextManager[None]]


def task_fingerprint(task: str) -> str:
    """The task as the agent receives it, for comparison: whitespace collapsed, and leading slash
    commands dropped (the API strips /plan, /goal and /fast from the message it stores)."""
    words = task.split()
    while words and words[0].lower() in _SLASH_COMMANDS:
        words.pop(0)
    return hashlib.sha256(" ".join(words).encode()).hexdigest()


async def remember_start(memory: Memory, replica_id: str, task: str, environment_id: str) -> None:
    """What a replica was started with, so a later call with its name can tell the same task from another
    (for every replica this server creates: by delegate_task and by create_replica alike)."""
    await memory.remember("task", replica_id, task_fingerprint(task))
    await memory.remember("environment", replica_id, environment_id)


async def first_message(client: ReplicasClient, replica_id: str) -> str | None:
    """The first message the user sent the replica (its task), from the oldest history events; None
    when the history has none yet. Only for an awake replica: reading a sleeping one's history wakes it."""
    newest = await client.history.read(replica_id, limit=1)
    if newest.total == 0 or newest.waking:
        return None
    oldest = await client.history.read(
        replica_id, limit=FIRST_EVENTS, offset=max(0, newest.total - FIRST_EVENTS)
    )
    for event in oldest.events:
        text = user_message_text(event.type, event.payload)
        if text is not None:
            return text
    return None


async def same_task(
    client: ReplicasClient, existing: ReplicaListItem, task: str, memory: Memory = PROCESS_MEMORY
) -> bool | None:
    """Whether `existing` works on `task` (None: cannot tell without waking it, or not started yet)."""
    known = await memory.recall("task", existing.id)
    if known is None and existing.status == "active":
        try:
            text = await first_message(client, existing.id)
        except ReplicasError:
            text = None  # stopped meanwhile, or unreadable now: cannot tell
        if text is not None:
            known = task_fingerprint(text)
            await memory.remember("task", existing.id, known)
    return None if known is None else known == task_fingerprint(task)


async def launch(
    client: ReplicasClient, spec: TaskSpec, hold: NameHold | None = None, memory: Memory = PROCESS_MEMORY
) -> tuple[ReplicaListItem, bool]:
    """The replica for this task, and whether this call created it. Raises `NameTaken` when a replica
    of the caller's chosen name exists with a different task (`memory`: what is known of replicas' tasks)."""
    name = spec.replica_name
    async with (hold or _NAMES.hold)(name):
        existing = await client.replicas.find_by_name(name)
        if existing is not None:
            await check_reuse(client, spec, existing, memory)
            return existing, False
        # Never abandoned half-way by the caller's cancellation; past its own bound it is abandoned, and
        # then its outcome is unknown: said as the client's error of that kind (a ReplicasError, which a
        # batch keeps as that row's error), never a bare TimeoutError.
        with anyio.CancelScope(shield=True), anyio.move_on_after(CREATE_TIMEOUT) as bound:
            created = await client.replicas.create(
                name=name,
                message=spec.task,
                environment_id=spec.environment_id,
                coding_agent=spec.coding_agent,
                model=spec.model,
                thinking_level=spec.thinking_level,
                plan_mode=spec.plan_mode or None,
            )
        if bound.cancelled_caught:
            raise CreateOutcomeUnknownError(
                f"create of replica {name!r} got no answer within {CREATE_TIMEOUT:.0f}s and may or may not"
                " have happened. It was not re-sent.",
                name=name,
            )
        await remember_start(memory, created.id, spec.task, spec.environment_id)
        return created, True


async def check_reuse(
    client: ReplicasClient, spec: TaskSpec, existing: ReplicaListItem, memory: Memory = PROCESS_MEMORY
) -> None:
    """Raise `NameTaken` unless `existing` may serve `spec` (a derived name embeds the task's hash and
    environment). Its environment is known only when it was started through this server (the contract's
    replica records do not carry it)."""
    if spec.name is None:
        return
    if await same_task(client, existing, spec.task, memory) is False:
        raise NameTaken(existing)
    started_in = await memory.recall("environment", existing.id)
    if started_in is not None and started_in != spec.environment_id:
        raise NameTaken(existing, environment_id=started_in)
