"""Fault injection and request accounting, for tests and benchmarks.

Rules match a request by HTTP method and route template (`/v1/replica/{id}/messages`; `*` globs allowed)
and fire a limited number of `times` (None: until removed). Kinds:

- `status`: answer with `status` (429 adds `Retry-After`), the handler never runs.
- `latency`: wait `seconds` (real seconds, not scaled) `before` the handler, or `after` it (the work is
  done, then the response is late: a client timeout after a POST that happened).
- `body`: answer 200 with `body` (any JSON value), the handler never runs: a response that does not match
  the contract (a field missing or of the wrong type), which a client must survive.
- `drop`: the connection is cut after the status line, before the body (a transport error for clients).
- `sse_drop`: an event stream is cut after `after_events` events (optionally only for `replica_id`).

Every request under `/v1/` is counted per `METHOD route-template`, both as it arrives (`requests`) and when
it reaches its handler (`handled`), so a test can assert "exactly one create reached the sandbox". Two
middlewares do it: `FaultMiddleware` (outermost: counts arrivals, applies the rules) and `HandledCounter`
(inside the auth check), so a request answered by a fault or rejected with a 401 is received, not handled.
Driven in-process through `FaultController` or over HTTP under `/_sandbox/` (see `control.py`).

A `latency` rule always delays the answer: `when` only says whether the handler runs before the wait
(`after`) or after it (`before`). When no handler runs (an injected `status`, `body` or `drop` answers
instead), the two are the same: the injected answer, or the cut, comes `seconds` late.
"""

from __future__ import annotations

import fnmatch
import json
import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import anyio
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from replicas_mcp.sandbox.errors import ApiError, bad_request

FaultKind = Literal["status", "latency", "body", "drop", "sse_drop"]
FAULT_KINDS: tuple[str, ...] = ("status", "latency", "body", "drop", "sse_drop")
INJECTABLE_STATUSES = frozenset({400, 401, 403, 404, 408, 409, 413, 429, 500, 502, 503, 504})

_STATUS_MESSAGES = {
    429: "Too many requests",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
    504: "Gateway timeout",
}


class DroppedConnection(Exception):
    """Raised to cut a connection on purpose; the server's log filter keeps it out of the logs."""


@dataclass
class FaultRule:
    id: str
    kind: FaultKind
    method: str = "*"
    route: str = "*"
    times: int | None = 1
    status: int | None = None
    retry_after: float | None = None
    seconds: float = 0.0
    when: Literal["before", "after"] = "before"
    after_events: int = 0
    replica_id: str | None = None
    body: Any = None
    fired: int = 0

    def matches(self, method: str, route: str) -> bool:
        method_ok = self.method == "*" or self.method.upper() == method.upper()
        return method_ok and (self.route == route or fnmatch.fnmatchcase(route, self.route))

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.fired >= self.times

    def wire(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RequestStats:
    requests: Counter[str] = field(default_factory=Counter)
    handled: Counter[str] = field(default_factory=Counter)

    def count(self, method: str, route: str, *, handled: bool = False) -> int:
        """How many `method route` requests arrived (or, with handled=True, reached their handler)."""
        return (self.handled if handled else self.requests)[f"{method.upper()} {route}"]

    def snapshot(self) -> dict[str, dict[str, int]]:
        return {
            "requests": dict(sorted(self.requests.items())),
            "handled": dict(sorted(self.handled.items())),
        }

    def reset(self) -> None:
        self.requests.clear()
        self.handled.clear()


class FaultController:
    """The in-process fault API; `/_sandbox/faults` is a thin HTTP layer over it."""

    def __init__(self) -> None:
        self.rules: list[FaultRule] = []
        self.stats = RequestStats()
        self._next = 1

    def _add(self, kind: FaultKind, **fields: Any) -> FaultRule:
        times = fields.get("times")
        if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 1):
            raise bad_request("times must be a positive integer or null (until cleared)")
        rule = FaultRule(id=f"fault_{self._next}", kind=kind, **fields)
        self._next += 1
        self.rules.append(rule)
        return rule

    def inject_status(
        self,
        status: int,
        *,
        route: str = "*",
        method: str = "*",
        times: int | None = 1,
        retry_after: float | None = None,
    ) -> FaultRule:
        if status not in INJECTABLE_STATUSES:
            raise bad_request(
                f"status {status} cannot be injected", f"use one of {sorted(INJECTABLE_STATUSES)}"
            )
        if retry_after is not None and not (math.isfinite(retry_after) and retry_after >= 0):
            raise bad_request("retry_after must be a finite number of seconds, zero or more")
        if status == 429 and retry_after is None:
            retry_after = 1.0
        return self._add(
            "status", route=route, method=method, times=times, status=status, retry_after=retry_after
        )

    def add_latency(
        self,
        seconds: float,
        *,
        route: str = "*",
        method: str = "*",
        when: Literal["before", "after"] = "before",
        times: int | None = None,
    ) -> FaultRule:
        if not (math.isfinite(seconds) and seconds >= 0):
            raise bad_request("seconds must be zero or positive")
        if when not in ("before", "after"):
            raise bad_request("when must be 'before' or 'after'")
        return self._add("latency", route=route, method=method, seconds=seconds, when=when, times=times)

    def replace_body(
        self, body: Any, *, route: str = "*", method: str = "*", times: int | None = 1
    ) -> FaultRule:
        """Answer 200 with `body` (a JSON value) instead of the handler."""
        try:
            json.dumps(body)
        except (TypeError, ValueError):
            raise bad_request("body must be a JSON value") from None
        return self._add("body", route=route, method=method, times=times, body=body)

    def drop_connection(self, *, route: str = "*", method: str = "*", times: int | None = 1) -> FaultRule:
        return self._add("drop", route=route, method=method, times=times)

    def drop_sse_after(
        self, events: int, *, replica_id: str | None = None, times: int | None = 1
    ) -> FaultRule:
        if events < 0:
            raise bad_request("after_events must be zero or positive")
        return self._add(
            "sse_drop",
            route="/v1/replica/{id}/events",
            method="GET",
            after_events=events,
            replica_id=replica_id,
            times=times,
        )

    def add(self, spec: dict[str, Any]) -> FaultRule:
        """Add a rule from its JSON description (the body of `POST /_sandbox/faults`)."""
        kind = spec.get("kind")
        common = {key: spec[key] for key in ("route", "method") if key in spec}
        try:
            if kind == "status":
                retry_after = spec.get("retry_after")
                return self.inject_status(
                    int(spec["status"]),
                    times=spec.get("times", 1),
                    # A number or a numeric string; stored as a float, so the header can be written later.
                    retry_after=None if retry_after is None else float(retry_after),
                    **common,
                )
            if kind == "latency":
                return self.add_latency(
                    float(spec["seconds"]), when=spec.get("when", "before"), times=spec.get("times"), **common
                )
            if kind == "body":
                return self.replace_body(spec["body"], times=spec.get("times", 1), **common)
            if kind == "drop":
                return self.drop_connection(times=spec.get("times", 1), **common)
            if kind == "sse_drop":
                return self.drop_sse_after(
                    int(spec.get("after_events", 0)),
                    replica_id=spec.get("replica_id"),
                    times=spec.get("times", 1),
                )
        except (KeyError, TypeError, ValueError) as exc:
            raise bad_request(f"invalid {kind} fault", f"missing or malformed field: {exc}") from exc
        raise bad_request("unknown fault kind", f"kind must be one of {', '.join(FAULT_KINDS)}")

    def remove(self, rule_id: str) -> bool:
        before = len(self.rules)
        self.rules = [rule for rule in self.rules if rule.id != rule_id]
        return len(self.rules) != before

    def clear(self) -> None:
        self.rules.clear()

    def take(
        self, kind: FaultKind, method: str, route: str, *, replica_id: str | None = None
    ) -> FaultRule | None:
        """The first live rule of `kind` matching the request, consuming one of its uses."""
        for rule in self.rules:
            if rule.kind != kind or rule.exhausted or not rule.matches(method, route):
                continue
            if rule.replica_id is not None and rule.replica_id != replica_id:
                continue
            rule.fired += 1
            return rule
        return None


def route_template(scope: Scope) -> str:
    """The route template a request matches (`/v1/replica/{id}`), or its raw path if none does.

    A partial match (right path, other method) names the route too, so a 405 is counted under it.
    """
    partial: str | None = None
    for route in scope["app"].router.routes:
        match, _ = route.matches(scope)
        if match == Match.FULL:
            return str(route.path)
        if match == Match.PARTIAL and partial is None:
            partial = str(route.path)
    return partial or scope["path"]


_HANDLED_KEY = "fault_stats_key"


class FaultMiddleware:
    """Counts `/v1/` requests as they arrive and applies the live fault rules (outside the auth check)."""

    def __init__(self, app: ASGIApp, *, controller: FaultController) -> None:
        self.app = app
        self.controller = controller

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        route = route_template(scope)
        key = f"{method} {route}"
        controller = self.controller
        controller.stats.requests[key] += 1

        latency = controller.take("latency", method, route)
        if latency is not None and latency.when == "before":
            await anyio.sleep(latency.seconds)
        after_delay = latency.seconds if latency is not None and latency.when == "after" else 0.0
        if after_delay > 0:
            # Whatever answers (the handler, a 401, an injected status or a drop) answers late.
            send = _late(send, after_delay)

        injected = controller.take("status", method, route)
        if injected is not None and injected.status is not None:
            await _send_injected(send, injected)
            return
        replaced = controller.take("body", method, route)
        if replaced is not None:
            await _send_json(send, 200, replaced.body)
            return
        if controller.take("drop", method, route) is not None:
            await send(
                {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"64")]}
            )
            raise DroppedConnection(f"{key} dropped by fault injection")

        # `HandledCounter` counts it once past the auth check.
        scope.setdefault("state", {})[_HANDLED_KEY] = key
        await self.app(scope, receive, send)


class HandledCounter:
    """Counts, as `handled`, the `/v1/` requests `FaultMiddleware` let through that got this far.

    Installed inside the auth check, so a request rejected with a 401 never counts as handled.
    """

    def __init__(self, app: ASGIApp, *, controller: FaultController) -> None:
        self.app = app
        self.controller = controller

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = scope.get("state", {}).pop(_HANDLED_KEY, None) if scope["type"] == "http" else None
        if key is not None:
            self.controller.stats.handled[key] += 1
        await self.app(scope, receive, send)


def _late(send: Send, seconds: float) -> Send:
    """`send`, holding the response back `seconds` before its status line."""

    async def late_send(message: Message) -> None:
        if message["type"] == "http.response.start":
            await anyio.sleep(seconds)
        await send(message)

    return late_send


async def _send_injected(send: Send, rule: FaultRule) -> None:
    status = rule.status or 500
    error = ApiError(status, _STATUS_MESSAGES.get(status, f"Injected {status}"), f"sandbox fault {rule.id}")
    extra = (
        [] if rule.retry_after is None else [(b"retry-after", _retry_after_header(rule.retry_after).encode())]
    )
    await _send_json(send, status, error.envelope(), extra)


async def _send_json(
    send: Send, status: int, value: Any, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = json.dumps(value).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": [*headers, *(extra or [])]})
    await send({"type": "http.response.body", "body": body})


def _retry_after_header(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"
