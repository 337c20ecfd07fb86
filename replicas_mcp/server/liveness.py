"""Reads never wake a sleeping workspace unless asked: status comes from the list endpoint first.

`get`, history, chats, canvas and hooks go through the workspace's engine, and touching a sleeping one
either wakes it (billing minutes, 10-60 s) or fails with 409. So a read first looks the replica up with
`client.replicas.status()` (list-based, never wakes) and goes on only when the workspace is awake, or when
the caller passed `wake=true`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcp.server.mcpserver.exceptions import ToolError

from replicas_mcp.client.models.replicas import ASLEEP_STATUSES as ASLEEP
from replicas_mcp.client.models.replicas import TERMINAL_STATUSES as TERMINAL
from replicas_mcp.server.errors import replica_not_found_message, sleeping_message, terminal_message

if TYPE_CHECKING:
    from replicas_mcp.client import ReplicasClient
    from replicas_mcp.client.models import ReplicaListItem

__all__ = ["ASLEEP", "TERMINAL", "ensure_awake", "lookup"]
WAKE_TIMEOUT = 90.0


async def lookup(client: ReplicasClient, replica_id: str) -> ReplicaListItem:
    """The replica as the list shows it (never wakes it); a ToolError when it does not exist."""
    item = await client.replicas.status(replica_id)
    if item is None:
        raise ToolError(replica_not_found_message(replica_id))
    return item


async def ensure_awake(client: ReplicasClient, replica_id: str, *, wake: bool) -> ReplicaListItem:
    """The replica, awake: woken (and waited for) only when `wake` is true; ToolError otherwise."""
    item = await lookup(client, replica_id)
    if item.status in TERMINAL:
        raise ToolError(terminal_message(replica_id))
    if item.status in ASLEEP:
        if not wake:
            raise ToolError(sleeping_message(replica_id, offer_wake=True))
        item = await client.replicas.wake_and_wait(replica_id, timeout=WAKE_TIMEOUT)
    return item
