"""byo-key: whether a presented Replicas key is let in, decided before the SDK's auth sees the request.

The API is the judge of a key, so a key never seen costs one upstream request. That made the check a lever
(attacker review s4 #3, #4): invented keys queued unbounded checks that every real caller's login waited
behind, and an API that could not answer (429, 5xx, unreachable) let any well-shaped key in. Now:

- an accepted verdict is fresh for `ACCEPTED_TTL` (no upstream call) and the key stays *known good* for
  `KNOWN_GOOD_TTL`: past its freshness such a key is admitted at once and re-checked in the background, so a
  real caller never waits behind strangers' checks; a 401/403 on re-check rejects it from then on;
- a key never accepted needs a check (requests with a key being checked share that check): at most
  `UNKNOWN_KEYS_PER_SOURCE` new keys per client address per minute (429 + Retry-After past it, before any
  upstream call), `MAX_CONCURRENT_KEY_CHECKS` checks at once and `MAX_WAITING_KEY_CHECKS` more waiting
  (503 + Retry-After past them);
- when the API cannot say (429, 5xx, unreachable), only a known-good key is admitted; a new key gets 503 +
  Retry-After (fail closed), so an outage, or a throttle an attacker provoked, lets no stranger in.

Rejected verdicts are kept apart from accepted ones, so invented keys cannot push real callers' verdicts out.
Keys are held only by fingerprint (a re-check holds the key for its own duration), never logged or echoed.
(Tests: tests/hardening/test_key_admission.py.)
"""

from __future__ import annotations

import json
import math
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio
from starlette.types import ASGIApp, Receive, Scope, Send

from replicas_mcp.client.errors import (
    APIStatusError,
    AuthenticationError,
    PermissionDeniedError,
    ReplicasError,
)
from replicas_mcp.server.http_guards import bearer_of

if TYPE_CHECKING:
    from anyio.abc import TaskGroup

    from replicas_mcp.client import ReplicasClient

# What a Replicas API key looks like. Checked before any use, so garbage never reaches the API or a log.
API_KEY_SHAPE = re.compile(r"sk_replicas_[A-Za-z0-9_-]{8,200}")
ACCEPTED_TTL = 60.0  # seconds an accepted verdict is believed without asking again
KNOWN_GOOD_TTL = 24 * 3600.0  # seconds a once-accepted key is admitted at once (re-checked in the background)
REJECTED_TTL = 10.0
MAX_CONCURRENT_KEY_CHECKS = 8  # upstream key checks in flight at once
MAX_WAITING_KEY_CHECKS = 32  # more waiting for one; past that a new key gets 503 + Retry-After
UNKNOWN_KEYS_PER_SOURCE = 20  # new keys checked per client address per SOURCE_WINDOW
SOURCE_WINDOW = 60.0
BUSY_RETRY_AFTER = 5  # seconds, when the check queue is full
UNAVAILABLE_RETRY_AFTER = 10  # seconds, when the API could not say and did not say when to retry
VERDICT_LIMIT = 10_000  # verdicts of each kind kept (oldest dropped)


class KeyVerdicts:
    """What the API said about recently seen keys, by fingerprint (never the key): accepted (fresh for
    `accepted_ttl`, known good for `known_good_ttl`) or rejected (for `rejected_ttl`); at most `limit` of
    each kind, oldest dropped first, each kind in its own table."""

    def __init__(
        self,
        *,
        accepted_ttl: float | None = None,
        known_good_ttl: float | None = None,
        rejected_ttl: float | None = None,
        limit: int = VERDICT_LIMIT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._accepted: OrderedDict[str, tuple[float, float]] = OrderedDict()  # fp -> (fresh, good) until
        self._rejected: OrderedDict[str, float] = OrderedDict()  # fp -> until
        # The module's values unless given, read now (not as defaults) so a test can shrink them.
        self._accepted_ttl = ACCEPTED_TTL if accepted_ttl is None else accepted_ttl
        self._known_good_ttl = KNOWN_GOOD_TTL if known_good_ttl is None else known_good_ttl
        self._rejected_ttl = REJECTED_TTL if rejected_ttl is None else rejected_ttl
        self._limit = limit
        self._clock = clock

    def get(self, fingerprint: str) -> bool | None:
        """The fresh verdict: True (accepted), False (rejected) or None (ask the API)."""
        now = self._clock()
        until = self._rejected.get(fingerprint)
        if until is not None:
            if now < until:
                return False
            del self._rejected[fingerprint]
        entry = self._accepted.get(fingerprint)
        if entry is None:
            return None
        fresh, good = entry
        if now >= good:
            del self._accepted[fingerprint]
            return None
        return True if now < fresh else None

    def known_good(self, fingerprint: str) -> bool:
        """Accepted within `known_good_ttl` and not rejected since."""
        entry = self._accepted.get(fingerprint)
        return entry is not None and self._clock() < entry[1] and fingerprint not in self._rejected

    def put(self, fingerprint: str, accepted: bool) -> None:
        now = self._clock()
        if accepted:
            self._rejected.pop(fingerprint, None)
            self._accepted[fingerprint] = (now + self._accepted_ttl, now + self._known_good_ttl)
            self._accepted.move_to_end(fingerprint)
            while len(self._accepted) > self._limit:
                self._accepted.popitem(last=False)
        else:
            self._accepted.pop(fingerprint, None)
            self._rejected[fingerprint] = now + self._rejected_ttl
            self._rejected.move_to_end(fingerprint)
            while len(self._rejected) > self._limit:
                self._rejected.popitem(last=False)

    def __len__(self) -> int:
        return len(self._accepted) + len(self._rejected)


class SourceBudget:
    """New-key checks per client address in fixed windows; at most `limit_sources` addresses remembered."""

    def __init__(
        self, per_window: int, window: float = SOURCE_WINDOW, *, limit_sources: int = VERDICT_LIMIT
    ) -> None:
        self._per_window = per_window
        self._window = window
        self._limit = limit_sources
        self._used: OrderedDict[str, tuple[float, int]] = OrderedDict()  # source -> (window start, count)

    def take(self, source: str, now: float) -> float | None:
        """None if the source may have one more key checked now, else the seconds until it may."""
        start, count = self._used.get(source, (now, 0))
        if now - start >= self._window:
            start, count = now, 0
        if count >= self._per_window:
            return start + self._window - now
        self._used[source] = (start, count + 1)
        self._used.move_to_end(source)
        while len(self._used) > self._limit:
            self._used.popitem(last=False)
        return None


@dataclass(frozen=True)
class Admission:
    """Whether a key is let in; if not, the HTTP status (401 rejected, 429/503 not now) and what to say."""

    admitted: bool
    status: int = 200
    retry_after: int | None = None
    message: str = ""


ADMITTED = Admission(True)
REJECTED = Admission(False, 401)


def _retry_in(seconds: float | None, default: int) -> int:
    return default if seconds is None else max(1, min(300, math.ceil(seconds)))


class KeyAdmission:
    """The byo-key admission decision (see the module docstring), shared by `KeyAdmissionMiddleware` (which
    answers 429/503 itself) and the SDK's token verifier (which only ever admits or answers 401)."""

    def __init__(
        self,
        fingerprint: Callable[[str], str],
        verdicts: KeyVerdicts | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fingerprint = fingerprint
        self._verdicts = verdicts or KeyVerdicts(clock=clock)
        self._clock = clock
        # Read at construction (not as default arguments) so a test can shrink them.
        self._checks = anyio.Semaphore(MAX_CONCURRENT_KEY_CHECKS)
        self._queue_limit = MAX_CONCURRENT_KEY_CHECKS + MAX_WAITING_KEY_CHECKS
        self._sources = SourceBudget(UNKNOWN_KEYS_PER_SOURCE)
        self._queued = 0  # checks in flight or waiting for a slot
        self._rechecking: set[str] = set()
        self._pending: dict[str, anyio.Event] = {}  # keys being checked now -> set when their check ends
        self._client: ReplicasClient | None = None
        self._tasks: TaskGroup | None = None
        self.upstream_checks = 0

    def bind(self, client: ReplicasClient | None, tasks: TaskGroup | None = None) -> None:
        """The client whose connection pool checks keys (each with the key being checked), and the task
        group known-good keys are re-checked in."""
        self._client, self._tasks = client, tasks

    async def admit(self, token: str, source: str) -> Admission:
        if not API_KEY_SHAPE.fullmatch(token):
            return REJECTED
        subject = self._fingerprint(token)
        verdict = self._verdicts.get(subject)
        if verdict is not None:
            return ADMITTED if verdict else REJECTED
        if self._client is None:
            return ADMITTED  # not serving yet (before the lifespan binds a client): the shape only
        if self._verdicts.known_good(subject):
            self._recheck_soon(token, subject)
            return ADMITTED
        pending = self._pending.get(subject)
        if pending is not None:  # the same key is being checked already: share that check's verdict
            await pending.wait()
            if self._verdicts.known_good(subject):
                return ADMITTED
            return self._outcome(self._verdicts.get(subject), None)
        wait = self._sources.take(source, self._clock())
        if wait is not None:
            return Admission(
                False, 429, _retry_in(wait, 1), "Too many new API keys from this address: retry later."
            )
        if self._queued >= self._queue_limit:
            return Admission(
                False,
                503,
                BUSY_RETRY_AFTER,
                "Too many API keys are being checked with the Replicas API right now: retry shortly.",
            )
        self._queued += 1
        done = self._pending[subject] = anyio.Event()
        retry_after = None
        try:
            async with self._checks:
                verdict = self._verdicts.get(subject)  # another request may have asked meanwhile
                if verdict is None:
                    verdict, retry_after = await self._ask(token, subject)
        finally:
            self._queued -= 1
            del self._pending[subject]
            done.set()
        return self._outcome(verdict, retry_after)

    def _outcome(self, verdict: bool | None, retry_after: float | None) -> Admission:
        if verdict is None:  # the API could not say: fail closed for a key never accepted
            return Admission(
                False,
                503,
                _retry_in(retry_after, UNAVAILABLE_RETRY_AFTER),
                "The Replicas API cannot confirm this API key right now (it is throttling or unreachable): "
                "retry later.",
            )
        return ADMITTED if verdict else REJECTED

    async def _ask(self, token: str, subject: str) -> tuple[bool | None, float | None]:
        """The API's verdict on the key (recorded), or None and its Retry-After when it could not say."""
        assert self._client is not None
        self.upstream_checks += 1
        try:
            await self._client.with_api_key(token).replicas.list(limit=1)
        except (AuthenticationError, PermissionDeniedError):
            self._verdicts.put(subject, False)
            return False, None
        except ReplicasError as exc:
            return None, exc.retry_after if isinstance(exc, APIStatusError) else None
        self._verdicts.put(subject, True)
        return True, None

    def _recheck_soon(self, token: str, subject: str) -> None:
        """Ask the API about a known-good key in the background (once at a time per key; skipped while the
        queue is full: the key stays known good and is re-checked on a later request)."""
        if self._tasks is None or subject in self._rechecking or self._queued >= self._queue_limit:
            return
        self._rechecking.add(subject)
        self._queued += 1

        async def recheck() -> None:
            try:
                async with self._checks:
                    await self._ask(token, subject)
            finally:
                self._queued -= 1
                self._rechecking.discard(subject)

        self._tasks.start_soon(recheck)


def _source_of(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "-"


class KeyAdmissionMiddleware:
    """In front of `/mcp` in byo-key mode: a key that may not be checked now, or that the API cannot confirm,
    gets 429/503 with `Retry-After` (never 401: the key may be fine, and a client shown 401 drops it). A
    rejected or admitted key goes on to the SDK's auth, which finds the verdict made here."""

    def __init__(self, app: ASGIApp, admission: KeyAdmission, *, protected_prefix: str = "/mcp") -> None:
        self._app = app
        self._admission = admission
        self._prefix = protected_prefix.rstrip("/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        token = bearer_of(scope) if scope["type"] == "http" else None
        if token is None or not (path == self._prefix or path.startswith(self._prefix + "/")):
            await self._app(scope, receive, send)
            return
        admission = await self._admission.admit(token, _source_of(scope))
        if admission.admitted or admission.status == 401:
            await self._app(scope, receive, send)
            return
        body = json.dumps(
            {"jsonrpc": "2.0", "id": None, "error": {"code": -32000, "message": admission.message}}
        ).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", str(admission.retry_after or UNAVAILABLE_RETRY_AFTER).encode()),
        ]
        await send({"type": "http.response.start", "status": admission.status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
