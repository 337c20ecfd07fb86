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
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio
from mcp.server.auth.provider import AccessToken, TokenVerifier
from mcp.server.auth.settings import AuthSettings
from pydantic import AnyHttpUrl
from starlette.types import ASGIApp

from replicas_mcp.client import ReplicasClient
from replicas_mcp.client.errors import (
    AuthenticationError,
    PermissionDeniedError,
    ReplicasError,
)
from replicas_mcp.config import AuthMode, Settings, is_loopback
from replicas_mcp.server.http_guards import (
    MIN_HTTP_TOKEN_CHARS,
    BearerTokenMiddleware,
    HttpExposureError,
    SessionBindingMiddleware,
)

if TYPE_CHECKING:
    from replicas_mcp.server.state.shared import Leases

__all__ = [
    "API_KEY_SHAPE",
    "BYO_KEY_PLACEHOLDER",
    "HttpExposureError",
    "KeyVerdicts",
    "ReplicasKeyVerifier",
    "check_http_exposure",
    "key_fingerprinter",
    "protect_http_app",
    "server_auth_options",
]

# What a Replicas API key looks like. Checked before any use, so garbage never reaches the API or a log.
API_KEY_SHAPE = re.compile(r"sk_replicas_[A-Za-z0-9_-]{8,200}")
# In byo-key mode the shared connection pool is created with this instead of a key; it never authenticates.
BYO_KEY_PLACEHOLDER = "no-server-key-in-byo-key-mode"
SCOPE = "replicas"
# byo-key: upstream key checks in flight at once (invented keys cannot turn the server into a flood).
MAX_CONCURRENT_KEY_CHECKS = 8


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


class KeyVerdicts:
    """What the API said about recently seen keys, by fingerprint (never the key): accepted for
    `accepted_ttl` seconds, rejected for `rejected_ttl`; at most `limit` entries, oldest dropped first."""

    def __init__(
        self,
        *,
        accepted_ttl: float = 60.0,
        rejected_ttl: float = 10.0,
        limit: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._verdicts: OrderedDict[str, tuple[bool, float]] = OrderedDict()
        self._ttl = {True: accepted_ttl, False: rejected_ttl}
        self._limit = limit
        self._clock = clock

    def get(self, fingerprint: str) -> bool | None:
        entry = self._verdicts.get(fingerprint)
        if entry is None:
            return None
        accepted, expires = entry
        if self._clock() >= expires:
            del self._verdicts[fingerprint]
            return None
        return accepted

    def put(self, fingerprint: str, accepted: bool) -> None:
        self._verdicts[fingerprint] = (accepted, self._clock() + self._ttl[accepted])
        self._verdicts.move_to_end(fingerprint)
        while len(self._verdicts) > self._limit:
            self._verdicts.popitem(last=False)

    def __len__(self) -> int:
        return len(self._verdicts)


class ReplicasKeyVerifier(TokenVerifier):
    """`--auth byo-key`: the bearer token is the caller's own Replicas API key.

    A key must look like one, and then the API must accept it: checked upstream once (one cheap list call,
    at most `MAX_CONCURRENT_KEY_CHECKS` at a time) and the verdict cached briefly (`KeyVerdicts`), so an
    invented key costs one upstream request and gets 401, never a session or a watch. If the API cannot be
    asked (it is down), the key is let through uncached: its calls will fail on their own, and a whole team
    is not locked out by an outage. Until `bind` gives it a client (the server's lifespan does), only the
    shape is checked.

    The `AccessToken` lives only as long as the request; its `subject` is a keyed fingerprint (the key itself
    cannot be recovered from it), used to bind sessions and request state to the caller.
    """

    def __init__(self, fingerprint: Callable[[str], str], verdicts: KeyVerdicts | None = None) -> None:
        self._fingerprint = fingerprint
        self._verdicts = verdicts or KeyVerdicts()
        self._client: ReplicasClient | None = None
        self._checks = anyio.Semaphore(MAX_CONCURRENT_KEY_CHECKS)
        self.upstream_checks = 0

    def bind(self, client: ReplicasClient | None) -> None:
        """The client whose connection pool checks keys (each check with the key being checked)."""
        self._client = client

    async def verify_token(self, token: str) -> AccessToken | None:
        if not API_KEY_SHAPE.fullmatch(token):
            return None  # the SDK answers 401 with WWW-Authenticate
        subject = self._fingerprint(token)
        if not await self._accepted(token, subject):
            return None
        return AccessToken(token=token, client_id="replicas-api-key", subject=subject, scopes=[SCOPE])

    async def _accepted(self, token: str, subject: str) -> bool:
        verdict = self._verdicts.get(subject)
        if verdict is not None or self._client is None:
            return verdict is not False
        async with self._checks:
            verdict = self._verdicts.get(subject)  # another request may have asked meanwhile
            if verdict is not None:
                return verdict
            self.upstream_checks += 1
            try:
                await self._client.with_api_key(token).replicas.list(limit=1)
            except (AuthenticationError, PermissionDeniedError):
                self._verdicts.put(subject, False)
                return False
            except ReplicasError:
                return True  # the API cannot say now: let the call through and fail on its own
            self._verdicts.put(subject, True)
            return True


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


def byo_key_auth_settings(public_url: str) -> AuthSettings:
    """`AuthSettings` for byo-key mode: a bearer is required, and no OAuth metadata is served.

    There is no OAuth flow: clients are configured with `Authorization: Bearer <their key>`, and keys come
    from the Replicas dashboard. Serving RFC 9728 metadata would have to name an authorization server, and
    the API is not one (an OAuth-capable client would be sent to it); so `resource_server_url` stays unset
    (no `/.well-known/oauth-protected-resource`, no `resource_metadata` in `WWW-Authenticate`), and
    `issuer_url`, which the SDK requires but then never advertises, is this server's own URL."""
    return AuthSettings(
        issuer_url=AnyHttpUrl(public_url),
        resource_server_url=None,
        required_scopes=[SCOPE],
        validate_token_resource=False,  # the verifier issues no audience; the key is checked by the API
    )


def server_auth_options(settings: Settings) -> dict[str, Any]:
    """The `MCPServer` keyword arguments for the auth mode: a token verifier and `AuthSettings` in byo-key
    mode (the SDK then requires a bearer on `/mcp` and exposes it through `get_access_token()`)."""
    if settings.auth != "byo-key":
        return {}
    state_key = settings.state_key.get_secret_value() if settings.state_key else None
    public_url = settings.public_url or f"http://{settings.host}:{settings.port}/mcp"
    return {
        "token_verifier": ReplicasKeyVerifier(key_fingerprinter(state_key)),
        "auth": byo_key_auth_settings(public_url),
    }


def protect_http_app(app: ASGIApp, settings: Settings, leases: Leases | None = None) -> ASGIApp:
    """The HTTP app with the auth mode's middleware: the static bearer token on `/mcp` (server-key mode,
    when a token is set), or session binding (byo-key mode with sessions), whose per-caller session cap
    is counted in `leases` too when given (the server's shared state: fleet-wide with Redis)."""
    check_http_exposure(
        settings.host, settings.auth, settings.http_token.get_secret_value() if settings.http_token else None
    )
    if settings.auth == "byo-key":
        if settings.stateless:
            return app  # no sessions to bind; every request carries its own key
        state_key = settings.state_key.get_secret_value() if settings.state_key else None
        return SessionBindingMiddleware(
            app, fingerprint=key_fingerprinter(state_key), per_caller=settings.max_sessions, leases=leases
        )
    if settings.http_token is not None:
        return BearerTokenMiddleware(app, token=settings.http_token.get_secret_value())
    return app
