"""Who may call the HTTP server, and whose Replicas key their calls use.

Two modes (`--auth`):

- `server-key` (default): every caller acts with the server's own `REPLICAS_API_KEY`. On loopback nothing
  more is needed (only local processes can connect; the SDK's Host/Origin allowlist stops DNS rebinding).
  Bound beyond loopback, `/mcp` requires `Authorization: Bearer <--http-token>`: `BearerTokenMiddleware`,
  a constant-time comparison, and `check_http_exposure` refuses to start without a token.
- `byo-key`: each request's bearer token is the caller's own Replicas API key. `ReplicasKeyVerifier` checks
  its shape only (the API is the judge of whether it is valid); the SDK's auth middleware puts it in the
  request's context, and `client_of(ctx)` (`server/state`) resolves every tool's and resource's client to a
  view bound to the key of the request it serves (`server/caller.py`), so two callers never act with each
  other's key. The key is never logged (it matches the redaction
  pattern) and never stored beyond the request: a session is bound to a keyed fingerprint of it
  (`SessionBindingMiddleware`), so a session id leaked to another caller is useless to them.

Headers of the MCP request are never forwarded upstream: the client sends only its own fixed headers and the
key. (Tests: tests/hardening/test_http_auth.py.)
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import re
import secrets
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from mcp.server.auth.provider import AccessToken, TokenVerifier
from mcp.server.auth.settings import AuthSettings
from pydantic import AnyHttpUrl
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from replicas_mcp.client import DEFAULT_BASE_URL
from replicas_mcp.config import AuthMode, Settings
from replicas_mcp.server.log_redaction import register_secret

# What a Replicas API key looks like. Checked before any use, so garbage never reaches the API or a log.
API_KEY_SHAPE = re.compile(r"sk_replicas_[A-Za-z0-9_-]{8,200}")
MIN_HTTP_TOKEN_CHARS = 24
# In byo-key mode the shared connection pool is created with this instead of a key; it never authenticates.
BYO_KEY_PLACEHOLDER = "no-server-key-in-byo-key-mode"
SCOPE = "replicas"
SESSION_HEADER = b"mcp-session-id"


class HttpExposureError(ValueError):
    """The HTTP settings would expose the server's key to the network without a token."""


def is_loopback(host: str) -> bool:
    """True for `localhost`, 127.0.0.0/8 and ::1 (with or without brackets)."""
    host = host.strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_http_exposure(host: str, auth: AuthMode, http_token: str | None) -> None:
    """Refuse a server-key HTTP server bound beyond loopback without a (long enough) bearer token."""
    if http_token is not None and len(http_token) < MIN_HTTP_TOKEN_CHARS:
        raise HttpExposureError(
            f"the HTTP token must be at least {MIN_HTTP_TOKEN_CHARS} characters (e.g. `openssl rand -hex 32`)"
        )
    if auth == "server-key" and not is_loopback(host) and not http_token:
        raise HttpExposureError(
            f"binding to {host} exposes this server's Replicas API key to the network: set --http-token "
            "(or REPLICAS_MCP_HTTP_TOKEN), or use --auth byo-key, or bind to 127.0.0.1"
        )


def _bearer(scope: Scope) -> str | None:
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
        presented = _bearer(scope) or ""
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


class ReplicasKeyVerifier(TokenVerifier):
    """`--auth byo-key`: the bearer token is the caller's own Replicas API key, accepted if it looks like one.

    The `AccessToken` lives only as long as the request; its `subject` is a keyed fingerprint (the key itself
    cannot be recovered from it), used to bind sessions and request state to the caller.
    """

    def __init__(self, fingerprint: Callable[[str], str]) -> None:
        self._fingerprint = fingerprint

    async def verify_token(self, token: str) -> AccessToken | None:
        if not API_KEY_SHAPE.fullmatch(token):
            return None  # the SDK answers 401 with WWW-Authenticate
        return AccessToken(
            token=token, client_id="replicas-api-key", subject=self._fingerprint(token), scopes=[SCOPE]
        )


def key_fingerprinter(shared_secret: str | None = None) -> Callable[[str], str]:
    """HMAC-SHA256 under a salt: equal keys match, and nothing reveals the key. The salt is random per
    process, or derived from `shared_secret` (the state key) so instances behind a load balancer agree."""
    salt = (
        hashlib.sha256(b"replicas-mcp key fingerprint\0" + shared_secret.encode()).digest()
        if shared_secret
        else secrets.token_bytes(32)
    )

    def fingerprint(key: str) -> str:
        return hmac.new(salt, key.encode(), hashlib.sha256).hexdigest()[:32]

    return fingerprint


def byo_key_auth_settings(resource_server_url: str, issuer_url: str) -> AuthSettings:
    """`AuthSettings` for byo-key mode. `issuer_url` is where keys come from (the Replicas API); there is no
    OAuth flow: clients are configured with `Authorization: Bearer <their key>`."""
    return AuthSettings(
        issuer_url=AnyHttpUrl(issuer_url),
        resource_server_url=AnyHttpUrl(resource_server_url),
        required_scopes=[SCOPE],
        validate_token_resource=False,  # the verifier issues no audience; the key is checked by the API
    )


class SessionBindingMiddleware:
    """Bind each legacy MCP session to the caller that created it (byo-key mode).

    The SDK keeps sessions by id only; without this, whoever learns a session id could read its stream.
    A session id is accepted only from the caller (fingerprint of the bearer key) whose request created it;
    any other caller, and any id this process did not see created, gets the same 404 as an unknown session.
    At most `max_sessions` bindings are kept (oldest dropped first: that session must re-initialize).
    """

    def __init__(
        self, app: ASGIApp, *, fingerprint: Callable[[str], str], max_sessions: int = 10_000
    ) -> None:
        self._app = app
        self._fingerprint = fingerprint
        self._owners: OrderedDict[str, str] = OrderedDict()
        self._max = max_sessions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        bearer = _bearer(scope)
        caller = self._fingerprint(bearer) if bearer else None
        session_id = _header(scope, SESSION_HEADER)
        if session_id is not None:
            owner = self._owners.get(session_id)
            if owner is None or caller is None or not hmac.compare_digest(owner, caller):
                await _send_json(
                    send,
                    404,
                    {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "Session not found"}},
                    [],
                )
                return
            self._owners.move_to_end(session_id)
            if scope.get("method") == "DELETE":
                self._owners.pop(session_id, None)

        async def binding_send(message: Message) -> None:
            if message["type"] == "http.response.start" and session_id is None and caller is not None:
                for name, value in message.get("headers", ()):
                    if name.lower() == SESSION_HEADER and message.get("status", 500) < 400:
                        self._bind(value.decode("latin-1"), caller)
            await send(message)

        await self._app(scope, receive, binding_send)

    def _bind(self, session_id: str, caller: str) -> None:
        self._owners[session_id] = caller
        self._owners.move_to_end(session_id)
        while len(self._owners) > self._max:
            self._owners.popitem(last=False)


def server_auth_options(settings: Settings) -> dict[str, Any]:
    """The `MCPServer` keyword arguments for the auth mode: a token verifier and `AuthSettings` in byo-key
    mode (the SDK then requires a bearer on `/mcp` and exposes it through `get_access_token()`)."""
    if settings.auth != "byo-key":
        return {}
    state_key = settings.state_key.get_secret_value() if settings.state_key else None
    public_url = settings.public_url or f"http://{settings.host}:{settings.port}/mcp"
    return {
        "token_verifier": ReplicasKeyVerifier(key_fingerprinter(state_key)),
        "auth": byo_key_auth_settings(public_url, settings.base_url or DEFAULT_BASE_URL),
    }


def protect_http_app(app: ASGIApp, settings: Settings) -> ASGIApp:
    """The HTTP app with the auth mode's middleware: the static bearer token on `/mcp` (server-key mode,
    when a token is set), or session binding (byo-key mode with sessions)."""
    check_http_exposure(
        settings.host, settings.auth, settings.http_token.get_secret_value() if settings.http_token else None
    )
    if settings.auth == "byo-key":
        if settings.stateless:
            return app  # no sessions to bind; every request carries its own key
        state_key = settings.state_key.get_secret_value() if settings.state_key else None
        return SessionBindingMiddleware(app, fingerprint=key_fingerprinter(state_key))
    if settings.http_token is not None:
        return BearerTokenMiddleware(app, token=settings.http_token.get_secret_value())
    return app
