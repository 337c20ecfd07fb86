"""Why a workspace failed, from what the contract tells: events, webhooks, and `config.provisioning_error`.

The REST replica record says `status: error` but carries no reason. The reason arrives as the event
stream's `error` event (`{"code": …, "message": …}`: its message, once the status is `error`) and the
`replica.error` webhook (its payload includes the failure message); a workspace config may also hold
`provisioning_error.message`.
A wait that sees the event, or the webhook receiver that gets the delivery (`WebhookEvent.error_message`),
records the text here, so a report asked for later (when the stream is closed for good) can still say why.

Keyed by replica id (unique across organizations); readers look the replica up with their own key first,
so nobody reads the reason of a replica they cannot see. Bounded: the newest `LIMIT` are kept.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

LIMIT = 2048
TEXT_LIMIT = 500


class Failures:
    """Replica id -> the newest failure message seen for it."""

    def __init__(self, limit: int = LIMIT) -> None:
        self._reasons: OrderedDict[str, str] = OrderedDict()
        self._limit = limit

    def remember(self, replica_id: str, message: str) -> None:
        text = message.strip()[:TEXT_LIMIT]
        if not text:
            return
        self._reasons[replica_id] = text
        self._reasons.move_to_end(replica_id)
        while len(self._reasons) > self._limit:
            self._reasons.popitem(last=False)

    def get(self, replica_id: str) -> str | None:
        return self._reasons.get(replica_id)

    def clear(self) -> None:
        self._reasons.clear()


FAILURES = Failures()


def provisioning_error(record: Mapping[str, Any] | None) -> str | None:
    """`config.provisioning_error.message` of a record (a workspace config's failure), if it has one."""
    config = record.get("config") if record else None
    failure = config.get("provisioning_error") if isinstance(config, Mapping) else None
    message = failure.get("message") if isinstance(failure, Mapping) else None
    return message.strip()[:TEXT_LIMIT] or None if isinstance(message, str) else None
