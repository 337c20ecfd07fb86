"""Why a workspace failed, from what the contract tells: events, webhooks, and `config.provisioning_error`.

The REST replica record says `status: error` but carries no reason. The reason arrives as the event
stream's `error` event (`{"code": …, "message": …}`: its message, once the status is `error`) and the
`replica.error` webhook (its payload includes the failure message); a workspace config may also hold
`provisioning_error.message`.
A wait that sees the event, or the webhook receiver that gets the delivery (`WebhookEvent.error_message`),
records the text in the delegation memory (memory.py: this process's, or the fleet's shared one), so a
report asked for later (when the stream is closed for good, or on another instance) can still say why.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from replicas_mcp.delegation.memory import Memory

TEXT_LIMIT = 500


async def remember_failure(memory: Memory, replica_id: str, message: str) -> None:
    """Keep why the replica failed (trimmed, bounded) for reports asked for later, on any instance."""
    text = message.strip()[:TEXT_LIMIT]
    if text:
        await memory.remember("failure", replica_id, text)


def provisioning_error(record: Mapping[str, Any] | None) -> str | None:
    """`config.provisioning_error.message` of a record (a workspace config's failure), if it has one."""
    config = record.get("config") if record else None
    failure = config.get("provisioning_error") if isinstance(config, Mapping) else None
    message = failure.get("message") if isinstance(failure, Mapping) else None
    return message.strip()[:TEXT_LIMIT] or None if isinstance(message, str) else None
