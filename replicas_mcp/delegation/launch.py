"""Starting a delegated task exactly once: stable names, look up by name, then create.

A task without a name gets one derived from its environment and text (`fix-the-login-3f2a9c1b`), so
sending the same task again, after a timeout or a lost answer, finds the replica instead of starting a
second one. Launches of one name are serialized (two concurrent calls cannot both miss the lookup): within
this process by default, across every instance of a fleet when the server passes `hold` (a name lock in
the shared store); the client's create also reconciles an unknown outcome by name.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio

if TYPE_CHECKING:
    from replicas_mcp.client import ReplicasClient
    from replicas_mcp.client.models import ReplicaListItem

SLUG_WORDS = 5
SLUG_LIMIT = 40
CREATE_TIMEOUT = 60.0


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


def stable_name(environment_id: str, task: str) -> str:
    """A readable name that is the same for the same environment and task text (whitespace aside)."""
    text = " ".join(task.split())
    digest = hashlib.sha256(f"{environment_id}\n{text}".encode()).hexdigest()[:8]
    words = re.findall(r"[a-z0-9]+", text.lower())[:SLUG_WORDS]
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


async def launch(
    client: ReplicasClient, spec: TaskSpec, hold: NameHold | None = None
) -> tuple[ReplicaListItem, bool]:
    """The replica for this task, and whether this call created it."""
    name = spec.replica_name
    async with (hold or _NAMES.hold)(name):
        existing = await client.replicas.find_by_name(name)
        if existing is not None:
            return existing, False
        # Never abandoned half-way: a create cancelled in flight would have an unknown outcome.
        with anyio.CancelScope(shield=True), anyio.fail_after(CREATE_TIMEOUT):
            created = await client.replicas.create(
                name=name,
                message=spec.task,
                environment_id=spec.environment_id,
                coding_agent=spec.coding_agent,
                model=spec.model,
                thinking_level=spec.thinking_level,
                plan_mode=spec.plan_mode or None,
            )
        return created, True
