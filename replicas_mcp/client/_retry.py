"""Which failures are retried, and how long to wait: the policy handed to stamina.

- GET, HEAD, OPTIONS and PUT (idempotent; the one PUT sets a flag): retried on connect errors, timeouts,
  dropped connections, and on 429, 500, 502, 503, 504, with exponential backoff and jitter.
- POST, PATCH, DELETE (side effects: messages, triggers, hook tests, creates, deletes): retried only when
  the request provably never reached the server (a connect error), or when the server refused it with a
  429 carrying Retry-After. Never on 500/502/503/504 or a dropped connection: neither the guide nor the
  contract says such an answer means the server did not act, so a retry could run it twice (a message
  delivered twice, a second automation run, a hook script run again, a duplicate; a second DELETE turns
  a delete that happened into a 404). Team decision (lead), 2026-12-02.
- A Retry-After is honoured (it replaces the backoff) up to `max_retry_after`; a longer wait, or one
  that would overrun the deadline, is not retried: the error goes to the caller with `.retry_after`.
- 409 and other 4xx are never retried here.

At most `max_retries` retries, all inside `deadline` seconds from the first attempt. In tests,
`stamina.set_testing(True)` makes every wait instant.

Each retry is logged once, in words, at INFO (`retrying`): what is retried, why, and in how long. stamina's
own logging hook is replaced (it logs the bare `stamina.retry_scheduled` at WARNING, its details in `extra`,
which no log format shows); so at the default WARNING level retries are quiet and the caller says once what
finally failed. stamina's other hooks (Prometheus metrics, when installed) are kept.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib.util
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from stamina.instrumentation import (
    PrometheusOnRetryHook,
    RetryDetails,
    get_on_retry_hooks,
    set_on_retry_hooks,
)

from replicas_mcp.client.errors import APIStatusError, ConnectError, TransportError

__all__ = [
    "IDEMPOTENT_METHODS",
    "RETRYABLE_STATUSES",
    "RETRY_AFTER_STATUSES",
    "RetryPolicy",
    "install_retry_logging",
    "retrying",
]

logger = logging.getLogger("replicas_mcp.client")
# What the retry loop running in this task retries: ("GET /v1/replica", retries allowed). stamina's hooks
# get no arguments for a `retry_context` block, so the loop says it here.
_RETRYING: contextvars.ContextVar[tuple[str, int] | None] = contextvars.ContextVar(
    "replicas_retrying", default=None
)

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT"})
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
# Statuses a non-idempotent request may retry on, and only when the server sent Retry-After: a 429 is
# a refusal before acting; a 503 may come after the server acted (neither document says otherwise).
RETRY_AFTER_STATUSES = frozenset({429})

RetryDecision = Callable[[Exception], bool | float]


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 2
    max_retry_after: float = 30.0
    deadline: float = 60.0
    wait_initial: float = 0.5
    wait_max: float = 8.0
    wait_jitter: float = 1.0
    # For POST/PATCH/DELETE: statuses retried when (and only when) they carry Retry-After. Creates keep
    # this at 429 whatever it is set to, so a 503 goes to reconciliation by name instead.
    unsafe_retry_statuses: frozenset[int] = field(default=RETRY_AFTER_STATUSES)

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        if self.max_retry_after < 0:
            raise ValueError("max_retry_after must be >= 0")
        if self.deadline <= 0:
            raise ValueError("deadline must be > 0")

    def hook_for(self, method: str, *, started: float) -> RetryDecision:
        """A stamina backoff hook for one request: False = raise, True = back off, float = wait that long."""
        idempotent = method.upper() in IDEMPOTENT_METHODS

        def decide(exc: Exception) -> bool | float:
            remaining = self.deadline - (time.monotonic() - started)
            if isinstance(exc, APIStatusError) and exc.retry_after is not None:
                if exc.status not in self.unsafe_retry_statuses and not (
                    idempotent and exc.status in RETRYABLE_STATUSES
                ):
                    return False
                if exc.retry_after > self.max_retry_after or exc.retry_after > remaining:
                    return False
                # A float tells stamina to wait exactly this long instead of its backoff.
                return float(exc.retry_after)
            if isinstance(exc, ConnectError):
                return True
            if not idempotent:
                return False
            if isinstance(exc, TransportError):
                return True
            return isinstance(exc, APIStatusError) and exc.status in RETRYABLE_STATUSES

        return decide


@contextlib.contextmanager
def retrying(what: str, max_retries: int) -> Iterator[None]:
    """Name the request whose retries the enclosed `stamina.retry_context` loop schedules."""
    token = _RETRYING.set((what, max_retries))
    try:
        yield
    finally:
        _RETRYING.reset(token)


def log_retry(details: RetryDetails) -> None:
    """One line per scheduled retry: what, why, and when it goes out again."""
    what, most = _RETRYING.get() or ("a request", 0)
    why = str(details.caused_by) or type(details.caused_by).__name__
    if not why.startswith(what):
        why = f"{what}: {why}"
    total = f" of {most}" if most else ""
    logger.info("%s; retrying in %.1f s (retry %d%s)", why, details.wait_for, details.retry_num, total)


def install_retry_logging() -> None:
    """Use `log_retry` in place of stamina's logging (or structlog) hook, keeping its metrics hook."""
    current = get_on_retry_hooks()
    if log_retry in current:
        return
    metrics = [PrometheusOnRetryHook] if _has_prometheus() else []
    set_on_retry_hooks([*metrics, log_retry])


def _has_prometheus() -> bool:
    return importlib.util.find_spec("prometheus_client") is not None  # as stamina's own default decides
