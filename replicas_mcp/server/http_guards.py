"""The HTTP server's guards in front of `/mcp`: exact Host/Origin matching, the static bearer token, and
byo-key session binding with per-caller caps. `server/auth.py` decides which of them an app gets.
(Tests: tests/hardening/test_http_auth.py, tests/hardening/test_http_limits.py.)
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from replicas_mcp.server.log_redaction import register_secret

if TYPE_CHECKING:
    from replicas_mcp.server.state.caps import SubscriptionCaps
    from replicas_mcp.server.state.shared import Leases

MIN_HTTP_TOKEN_CHARS = 24
SESSION_HEADER = b"mcp-session-id"
# byo-key: open sessions one caller (one key) may hold by default (`--max-sessions`); the next initialize
# is refused until one ends.
MAX_SESSIONS_PER_CALLER = 100
# Bodies read whole to tell an `initialize` from other requests (only for a caller at the cap). As large as
# the SDK accepts (its request body limit, 4 MB, which it buffers too): with a smaller peek, JSON whitespace
# in front of an `initialize` made it unrecognisable, and the caller's cap was passed. Larger bodies go on
# to the SDK, which refuses them (413).
MAX_PEEKED_BODY = 4 * 1024 * 1024
# The SDK closes a session after this long without a request; a binding idle this long is forgotten too.
SESSION_IDLE_SECONDS = 30 * 60
SESSION_LEASES = "sessions"  # the lease kind of the fleet-wide session cap (state/caps.py)
SWEEP_SECONDS = 60.0  # how often idle bindings are looked for (and their leases given back) with a fleet


class HttpExposureError(ValueError):
    """The HTTP settings would expose the server's key to the network without a token."""


def bearer_of(scope: Scope) -> str | None:
    """The request's bearer token (`Authorization: Bearer …`), or None."""
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            return token.strip() if scheme.lower() == "bearer" and token.strip() else None
    return None


def _header(scope: Scope, wanted: bytes) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == wanted:
            return str(value.decode("latin-1"))
    return None


async def _send_json(
    send: Send, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]]
) -> None:
    data = json.dumps(body).encode()
    base = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": [*base, *headers]})
    await send({"type": "http.response.body", "body": data})


# `host`, `host:port`, `[v6]`, `[v6]:port`: nothing else may follow (no `localhost:@evil.com`).
_HOST_SYNTAX = re.compile(
    r"(?P<name>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?)(?::(?P<port>[0-9]{1,5}))?"
)


def host_matches(value: str, patterns: Sequence[str]) -> bool:
    """Exact matching of a Host header against `host`, `host:port` and `host:*` (any port) patterns.

    The SDK's own check accepts anything that merely starts with `host:` for a `host:*` pattern, so
    `Host: localhost:@evil.com` passed it; here the value must parse as a host and port, and then equal a
    pattern."""
    match = _HOST_SYNTAX.fullmatch(value)
    if match is None:
        return False
    name, port = match["name"].lower(), match["port"]
    exact = f"{name}:{port}" if port else name
    for pattern in patterns:
        wanted = pattern.strip().lower()
        if wanted.endswith(":*") and wanted[:-2] == name:
            return True
        if wanted == exact:
            return True
    return False


def origin_matches(value: str, patterns: Sequence[str]) -> bool:
    """`scheme://host[:port]` against `scheme://host[:port|:*]` patterns, as exactly as `host_matches`."""
    scheme, sep, rest = value.partition("://")
    if not sep:
        return False
    same_scheme = [p.partition("://")[2] for p in patterns if p.lower().startswith(scheme.lower() + "://")]
    return host_matches(rest, same_scheme)


class ExactHostMiddleware:
    """DNS-rebinding protection on `/mcp` with exact matching of Host (required) and Origin (when sent).

    It runs in front of the SDK's check (kept on) with the same allow lists; a mismatch gets the SDK's
    answer to one: 421 for a Host, 403 for an Origin."""

    def __init__(
        self, app: ASGIApp, *, hosts: Sequence[str], origins: Sequence[str], protected_prefix: str = "/mcp"
    ) -> None:
        self._app = app
        self._hosts = tuple(hosts)
        self._origins = tuple(origins)
        self._prefix = protected_prefix.rstrip("/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not (path == self._prefix or path.startswith(self._prefix + "/")):
            await self._app(scope, receive, send)
            return
        host, origin = _header(scope, b"host"), _header(scope, b"origin")
        if host is None or not host_matches(host, self._hosts):
            await _send_json(send, 421, {"error": "invalid Host header"}, [])
            return
        if origin is not None and not origin_matches(origin, self._origins):
            await _send_json(send, 403, {"error": "invalid Origin header"}, [])
            return
        await self._app(scope, receive, send)


class BearerTokenMiddleware:
    """Require `Authorization: Bearer <token>` on every request under `protected_prefix` (the MCP endpoint).

    Other paths (the webhook receiver, which checks its own signature) pass through.
    """

    def __init__(self, app: ASGIApp, *, token: str, protected_prefix: str = "/mcp") -> None:
        if len(token) < MIN_HTTP_TOKEN_CHARS:
            raise HttpExposureError(f"the HTTP token must be at least {MIN_HTTP_TOKEN_CHARS} characters")
        register_secret(token)
        self._app = app
        self._expected = hashlib.sha256(token.encode()).digest()
        self._prefix = protected_prefix.rstrip("/")

    def _protects(self, path: str) -> bool:
        return path == self._prefix or path.startswith(self._prefix + "/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._protects(scope.get("path", "")):
            await self._app(scope, receive, send)
            return
        presented = bearer_of(scope) or ""
        # Compare digests: constant time, and independent of the presented token's length.
        if not hmac.compare_digest(hashlib.sha256(presented.encode()).digest(), self._expected):
            await _send_json(
                send,
                401,
                {"error": "invalid_token", "error_description": "a valid bearer token is required"},
                [(b"www-authenticate", b'Bearer error="invalid_token"')],
            )
            return
        await self._app(scope, receive, send)


class SessionBindingMiddleware:
    """Bind each legacy MCP session to the caller that created it, and cap each caller's sessions (byo-key).

    The SDK keeps sessions by id only; without this, whoever learns a session id could read its stream.
    A session id is accepted only from the caller (fingerprint of the bearer key) whose request created it;
    any other caller, and any id this process did not see created, gets the same 404 as an unknown session.

    One caller holds at most `per_caller` sessions (`--max-sessions`; 0: no cap): a further `initialize`
    gets 429 with a message saying so (end one with DELETE, or let it idle out), so one key cannot fill the
    server's global session table and lock everyone else out. A binding unused for `idle_seconds` (the
    SDK's idle timeout, after which the session is gone) no longer counts. At most `max_sessions` bindings
    are kept in all (oldest dropped).

    With `leases` (the server's shared state), the cap holds across a fleet: each session holds a lease in
    the store (state/caps.py, kind `sessions`), taken before its `initialize` is answered, renewed while it
    is open, given back when it ends (DELETE, idle, shutdown) and lapsing within a minute if its instance
    dies. The renewals run for the app's lifetime (the ASGI lifespan passes through here).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        fingerprint: Callable[[str], str],
        max_sessions: int = 10_000,
        per_caller: int = MAX_SESSIONS_PER_CALLER,
        idle_seconds: float = SESSION_IDLE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        leases: Leases | None = None,
    ) -> None:
        self._app = app
        self._fingerprint = fingerprint
        self._owners: OrderedDict[str, tuple[str, float]] = OrderedDict()  # session id -> (caller, last use)
        self._per_caller: dict[str, int] = {}
        self._max = max_sessions
        self._limit = per_caller
        self._idle = idle_seconds
        self._clock = clock
        self._fleet: SubscriptionCaps | None = None
        if leases is not None and per_caller:
            from replicas_mcp.server.state.caps import SubscriptionCaps

            self._fleet = SubscriptionCaps(leases, per_caller, kind=SESSION_LEASES)
        self._leased: dict[str, tuple[str, str]] = {}  # session id -> (caller, lease holder)
        self._live: set[str] = set()  # holders of sessions open or being opened (renewed while here)
        self._ended: list[tuple[str, str]] = []  # (caller, holder) of sessions just ended: to give back

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan" and self._fleet is not None:
            await self._with_renewals(self._fleet, scope, receive, send)
            return
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        try:
            await self._handle(scope, receive, send)
        finally:
            await self._give_back_ended()

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        bearer = bearer_of(scope)
        caller = self._fingerprint(bearer) if bearer else None
        session_id = _header(scope, SESSION_HEADER)
        holder: str | None = None
        if session_id is not None:
            owner = self._owners.get(session_id)
            if owner is None or caller is None or not hmac.compare_digest(owner[0], caller):
                await _send_json(
                    send,
                    404,
                    {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "Session not found"}},
                    [],
                )
                return
            self._owners[session_id] = (owner[0], self._clock())
            self._owners.move_to_end(session_id)
            if scope.get("method") == "DELETE":
                self._unbind(session_id)
        elif caller is not None and scope.get("method") == "POST" and self._limit:
            at_cap = self._open_sessions(caller) >= self._limit
            if at_cap or self._fleet is not None:  # only a new session is refused: peek at the body
                body, receive = await _buffered(receive)
                if _is_initialize(body) and at_cap:
                    await self._refuse(send)
                    return
                if _is_initialize(body) and self._fleet is not None:
                    holder = await self._reserve(self._fleet, caller, send)
                    if holder is None:  # refused (the fleet-wide cap, or the store unreachable)
                        return

        bound: list[str] = []

        async def binding_send(message: Message) -> None:
            if message["type"] == "http.response.start" and session_id is None and caller is not None:
                for name, value in message.get("headers", ()):
                    if name.lower() == SESSION_HEADER and message.get("status", 500) < 400:
                        bound.append(value.decode("latin-1"))
                        self._bind(bound[-1], caller, holder)
            await send(message)

        try:
            await self._app(scope, receive, binding_send)
        finally:
            if holder is not None and caller is not None and not bound:
                self._live.discard(holder)  # the initialize made no session: its lease goes back
                self._ended.append((caller, holder))

    async def _reserve(self, fleet: SubscriptionCaps, caller: str, send: Send) -> str | None:
        """A lease for the session an `initialize` is about to open; None once the answer is sent (429
        over the fleet-wide cap, 503 while the shared store is unreachable)."""
        from replicas_mcp.server.state.shared import SharedStateUnavailable

        holder = fleet.holder("session", secrets.token_hex(8))
        self._live.add(holder)
        try:
            taken = await fleet.take(caller, [holder], lambda: holder in self._live)
        except SharedStateUnavailable as exc:
            self._live.discard(holder)
            error = {"code": -32000, "message": str(exc)}
            await _send_json(send, 503, {"jsonrpc": "2.0", "id": None, "error": error}, [])
            return None
        if not taken:
            self._live.discard(holder)
            await self._refuse(send)
            return None
        return holder

    async def _refuse(self, send: Send) -> None:
        await _send_json(
            send,
            429,
            {
                "jsonrpc": "2.0",
                "id": None,
                "error": {
                    "code": -32000,
                    "message": f"Too many open sessions for this API key ({self._limit}): end one "
                    "(HTTP DELETE with its Mcp-Session-Id) or let an unused one idle out, then retry",
                },
            },
            [],
        )

    async def _with_renewals(
        self, fleet: SubscriptionCaps, scope: Scope, receive: Receive, send: Send
    ) -> None:
        """The app's lifespan, with the session leases renewed (and idle sessions' given back) meanwhile;
        on the way out every lease this instance holds is given back."""
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(fleet.renew_forever)
            tasks.start_soon(self._sweep_forever)
            try:
                await self._app(scope, receive, send)
            finally:
                tasks.cancel_scope.cancel()
                for session_id in list(self._leased):
                    self._unbind(session_id)
                with anyio.CancelScope(shield=True), anyio.move_on_after(2):
                    await self._give_back_ended()

    async def _sweep_forever(self) -> None:
        while True:
            await anyio.sleep(SWEEP_SECONDS)
            self._forget_idle()
            await self._give_back_ended()

    async def _give_back_ended(self) -> None:
        while self._ended and self._fleet is not None:
            caller, holder = self._ended.pop()
            await self._fleet.give_back(caller, [holder])

    def _open_sessions(self, caller: str) -> int:
        """The caller's sessions, after forgetting every binding idle past the SDK's timeout."""
        self._forget_idle()
        return self._per_caller.get(caller, 0)

    def _forget_idle(self) -> None:
        cutoff = self._clock() - self._idle
        while self._owners:
            oldest_id, (_, last_used) = next(iter(self._owners.items()))
            if last_used > cutoff:
                break
            self._unbind(oldest_id)

    def _bind(self, session_id: str, caller: str, holder: str | None) -> None:
        if session_id in self._owners:
            return
        self._owners[session_id] = (caller, self._clock())
        self._per_caller[caller] = self._per_caller.get(caller, 0) + 1
        if holder is not None:
            self._leased[session_id] = (caller, holder)
        while len(self._owners) > self._max:
            self._unbind(next(iter(self._owners)))

    def _unbind(self, session_id: str) -> None:
        owner = self._owners.pop(session_id, None)
        leased = self._leased.pop(session_id, None)
        if leased is not None:
            self._live.discard(leased[1])
            self._ended.append(leased)
        if owner is None:
            return
        left = self._per_caller.get(owner[0], 1) - 1
        if left > 0:
            self._per_caller[owner[0]] = left
        else:
            self._per_caller.pop(owner[0], None)


async def _buffered(receive: Receive) -> tuple[bytes, Receive]:
    """The request body (up to `MAX_PEEKED_BODY`, then no further), and a `receive` that replays what was
    read before passing on to the original."""
    messages: list[Message] = []
    size = 0
    while size <= MAX_PEEKED_BODY:  # past it, the SDK refuses the request anyway
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        size += len(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.request")

    async def replay() -> Message:
        return messages.pop(0) if messages else await receive()

    return body, replay


def _is_initialize(body: bytes) -> bool:
    try:
        payload = json.loads(body)
    except ValueError:
        return False
    return isinstance(payload, dict) and payload.get("method") == "initialize"
