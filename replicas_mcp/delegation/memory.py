"""What delegation remembers about replicas between calls, keyed by replica id (unique across
organizations; readers look the replica up with their own key first, so nobody reads what belongs to a
replica they cannot see):

- `task`: the fingerprint of the task a replica was started with, so `delegate_task` with a chosen name
  reuses a replica only for the same task (launch.py);
- `environment`: the environment it was started in (the contract's records do not carry it);
- `failure`: why it failed, from the stream's `error` event or the `replica.error` webhook (failures.py).

Behind `Memory`, so the instances of a fleet share it (the server passes its shared state's, Redis with
`--redis-url`: server/state/redis_state.py): a webhook or `delegate_task` landing on instance A is known
to a call landing on B. In process by default: `PROCESS_MEMORY`, bounded per kind, newest kept.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Literal, Protocol

Kind = Literal["task", "environment", "failure"]
KINDS: tuple[Kind, ...] = ("task", "environment", "failure")
LIMITS: dict[Kind, int] = {"task": 4096, "environment": 4096, "failure": 2048}


class Memory(Protocol):
    async def remember(self, kind: Kind, replica_id: str, value: str) -> None: ...

    async def recall(self, kind: Kind, replica_id: str) -> str | None: ...


class LocalMemory:
    """This process's memory: the newest `LIMITS[kind]` entries of each kind."""

    def __init__(self, limits: dict[Kind, int] | None = None) -> None:
        self._limits = limits or LIMITS
        self._kept: dict[Kind, OrderedDict[str, str]] = {kind: OrderedDict() for kind in KINDS}

    async def remember(self, kind: Kind, replica_id: str, value: str) -> None:
        kept = self._kept[kind]
        kept[replica_id] = value
        kept.move_to_end(replica_id)
        while len(kept) > self._limits[kind]:
            kept.popitem(last=False)

    async def recall(self, kind: Kind, replica_id: str) -> str | None:
        return self._kept[kind].get(replica_id)

    def forget(self, kind: Kind, replica_id: str) -> None:
        self._kept[kind].pop(replica_id, None)

    def clear(self) -> None:
        for kept in self._kept.values():
            kept.clear()


PROCESS_MEMORY = LocalMemory()
