"""Who may call the HTTP server, and whose Replicas key their calls use.

Two modes (`--auth`):

- `server-key` (default): every caller acts with the server's own `REPLICAS_API_KEY`. On loopback nothing
  more is needed (only local processes can connect; the SDK's Host/Origin allowlist stops DNS rebinding).
  Bound beyond loopback, `/mcp` requires `Authorization: Bearer <--http-token>`: `BearerTokenMiddleware`,
  a constant-time comparison, and `check_http_exposure` refuses to start without a token.
- `byo-key`: each request's bearer token is the caller's own Replicas API key. It must have a key's shape,
  and the API must accept it (`server/key_admission.py`: checked upstream, bounded per address and in all,
  `KeyAdmissionMiddleware` in front answering 429/503 when a key cannot be checked now); the SDK's auth
  middleware (`ReplicasKeyVerifier`) puts it in the request's context, and `client_of(ctx)` (`server/state`)
  resolves every tool's and resource's client to a view bound to the key of the request it serves
  (`server/caller.py`), so two callers never act with each other's key. The key is never logged (it matches
  the redaction pattern) and never stored beyond the request: a session is bound to a keyed fingerprint of it
  (`SessionBindingMiddleware`), so a session id leaked to another caller is useless to them.

Headers of the MCP request are never forwarded upstream: the client sends only its own fixed headers and the
key. (Tests: tests/hardening/test_http_auth.py.)
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from mcp.server.auth.provider import AccessToken, TokenVerifier
from mcp.server.auth.settings import AuthSettings
from pydantic import AnyHttpUrl
from starlette.types import ASGIApp

from replicas_mcp.config import AuthMode, Settings, is_loopback
from replicas_mcp.server.http_guards import (
    MIN_HTTP_TOKEN_CHARS,
    BearerTokenMiddleware,
    HttpExposureError,
    SessionBindingMiddleware,
)
from replicas_mcp.server.key_admission import (
    API_KEY_SHAPE,
    KeyAdmission,
    KeyAdmissionMiddleware,
    KeyVerdicts,
)

if TYPE_CHECKING:
    from anyio.abc import TaskGroup

    from replicas_mcp.client import ReplicasClient
    from replicas_mcp.server.state.shared import Leases

__all__ = [
    "API_KEY_SHAPE",
    "BYO_KEY_PLACEHOLDER",
    "HttpExposureError",
    "KeyVerdicts",
    "ReplicasKeyVerifier",
    "admission_of",
    "attach_verifier",
    "check_http_exposure",
    "key_fingerprinter",
    "protect_http_app",
    "server_auth_options",
]

# In byo-key mode the shared connection pool is created with this instead of a key; it never authenticates.
BYO_KEY_PLACEHOLDER = "no-server-key-in-byo-key-mode"
SCOPE = "replicas"
# The source the verifier names when it must decide alone (KeyAdmissionMiddleware usually decided first).
VERIFIER_SOURCE = "verifier"


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


class ReplicasKeyVerifier(TokenVerifier):
    """`--auth byo-key`: the bearer token is the caller's own Replicas API key.

    A key must look like one, and then the API must accept it: `KeyAdmission` (server/key_admission.py)
    checks it upstream once and remembers the verdict (a known-good key is re-checked in the background),
    bounds the checks per client address and in all, and admits a key the API cannot confirm only if it was
    accepted before. `KeyAdmissionMiddleware` (in front, see `protect_http_app`) makes that decision first and
    answers 429/503 itself; here only 401 (None) or admission remains. Until `bind` gives it a client (the
    server's lifespan does), only the shape is checked.

    The `AccessToken` lives only as long as the request; its `subject` is a keyed fingerprint (the key itself
    cannot be recovered from it), used to bind sessions and request state to the caller.
    """

    def __init__(self, fingerprint: Callable[[str], str], verdicts: KeyVerdicts | None = None) -> None:
        self._fingerprint = fingerprint
        self.admission = KeyAdmission(fingerprint, verdicts)

    @property
    def upstream_checks(self) -> int:
        return self.admission.upstream_checks

    def bind(self, client: ReplicasClient | None, tasks: TaskGroup | None = None) -> None:
        """The client whose connection pool checks keys (each check with the key being checked), and the
        task group known-good keys are re-checked in."""
        self.admission.bind(client, tasks)

    async def verify_token(self, token: str) -> AccessToken | None:
        if not API_KEY_SHAPE.fullmatch(token):
            return None  # the SDK answers 401 with WWW-Authenticate
        # Normally decided a moment ago by KeyAdmissionMiddleware, whose verdict this finds.
        if not (await self.admission.admit(token, VERIFIER_SOURCE)).admitted:
            return None
        subject = self._fingerprint(token)
        return AccessToken(token=token, client_id="replicas-api-key", subject=subject, scopes=[SCOPE])


_VERIFIERS: WeakKeyDictionary[object, ReplicasKeyVerifier] = WeakKeyDictionary()


def attach_verifier(server: object, verifier: object) -> None:
    """Record a byo-key server's verifier, so the HTTP app built around it later admits keys with it."""
    if isinstance(verifier, ReplicasKeyVerifier):
        _VERIFIERS[server] = verifier


def admission_of(server: object) -> KeyAdmission | None:
    """The key admission of a byo-key server built by `build_server` (None otherwise)."""
    verifier = _VERIFIERS.get(server)
    return verifier.admission if verifier is not None else None


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


def protect_http_app(
    app: ASGIApp, settings: Settings, leases: Leases | None = None, admission: KeyAdmission | None = None
) -> ASGIApp:
    """The HTTP app with the auth mode's middleware: the static bearer token on `/mcp` (server-key mode,
    when a token is set), or, in byo-key mode, key admission (`admission`, the server's: `admission_of`)
    in front of session binding, whose per-caller session cap is counted in `leases` too when given (the
    server's shared state: fleet-wide with Redis)."""
    check_http_exposure(
        settings.host, settings.auth, settings.http_token.get_secret_value() if settings.http_token else None
    )
    if settings.auth == "byo-key":
        if not settings.stateless:  # (stateless: no sessions to bind; every request carries its own key)
            state_key = settings.state_key.get_secret_value() if settings.state_key else None
            app = SessionBindingMiddleware(
                app, fingerprint=key_fingerprinter(state_key), per_caller=settings.max_sessions, leases=leases
            )
        return app if admission is None else KeyAdmissionMiddleware(app, admission)
    if settings.http_token is not None:
        return BearerTokenMiddleware(app, token=settings.http_token.get_secret_value())
    return app
