"""Warnings a user should see, at most once a minute per kind and caller: an upstream outage, a degraded
live stream. They are logged at WARNING under `replicas_mcp`, so they reach stderr and, through
`client_log.py`, the client as `notifications/message`; the rate limit keeps a failing burst of calls from
becoming a burst of messages.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict

from replicas_mcp.client import errors as e
from replicas_mcp.server.caller import current_caller

logger = logging.getLogger("replicas_mcp.notices")

QUIET_SECONDS = 60.0
_REMEMBERED = 1_000
_last: OrderedDict[tuple[str, str], float] = OrderedDict()


def tell_user(kind: str, message: str, *, now: float | None = None) -> bool:
    """Log `message` as a warning unless one of this kind went to this caller within `QUIET_SECONDS`."""
    key = (kind, current_caller())
    moment = time.monotonic() if now is None else now
    previous = _last.get(key)
    if previous is not None and moment - previous < QUIET_SECONDS:
        return False
    _last[key] = moment
    _last.move_to_end(key)
    while len(_last) > _REMEMBERED:
        _last.popitem(last=False)
    logger.warning("%s", message)
    return True


def forget_notices() -> None:
    """Start over (tests that expect a notice, whatever earlier tests of the process did)."""
    _last.clear()


def note_upstream_failure(exc: e.ReplicasError) -> None:
    """An API outage (5xx, unreachable, timing out, rate limited) told once a minute; other errors are the
    caller's own (a bad id, a rejected argument) and go only to the tool result."""
    match exc:
        case e.ServerError():
            tell_user(
                "outage", f"the Replicas API is failing ({exc.status}); calls will fail until it recovers"
            )
        case e.ConnectError() | e.RequestTimeoutError():
            tell_user("outage", "the Replicas API cannot be reached; check the network and REPLICAS_BASE_URL")
        case e.RateLimitedError():
            tell_user("rate-limit", "the Replicas API is rate limiting this key; calls are slowed or refused")
        case _:
            return
