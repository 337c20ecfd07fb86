"""Which shared-state backend a server runs on: in process, or Redis for a fleet.

Kept apart from `shared.py` (the interfaces), which the Redis backend imports: choosing the backend here
keeps the two free of an import cycle. The Redis modules are imported only when a URL is configured, so a
single-process server never pays for loading the Redis client at start.

`build_server` creates the server's `SharedState` and records it against the server (`attach`), so the HTTP
layer built around that server later (`http_app`: the byo-key session cap) counts in the same store.

The Redis URL is a secret when it carries a password: its password is registered for redaction before
anything connects, and nothing here ever puts the URL in a message (only its host and port, which are not).
"""

from __future__ import annotations

from urllib.parse import parse_qs, quote, unquote, urlsplit
from weakref import WeakKeyDictionary

from replicas_mcp.server.log_redaction import register_secret
from replicas_mcp.server.state.shared import SharedState

_ATTACHED: WeakKeyDictionary[object, SharedState] = WeakKeyDictionary()


def shared_state_for(redis_url: str | None) -> SharedState:
    """In process without a URL; Redis with one."""
    if not redis_url:
        return SharedState()
    register_redis_password(redis_url)
    from replicas_mcp.server.state.redis_state import RedisSharedState

    return RedisSharedState(redis_url)


def attach(server: object, shared: SharedState) -> None:
    _ATTACHED[server] = shared


def attached(server: object) -> SharedState | None:
    """The shared state `build_server` made for `server` (None for a server built some other way)."""
    return _ATTACHED.get(server)


def _written_password(url: str) -> str | None:
    """The password as written in a Redis URL: in its user info (`redis://:pw@…`, `redis://user:pw@…`) or,
    as redis-py also reads it, in the query (`unix:///run/redis.sock?password=pw`)."""
    parts = urlsplit(url)
    if parts.password:
        return parts.password
    given = parse_qs(parts.query).get("password")  # parse_qs decodes it already
    return given[0] if given and given[0] else None


def redis_password(url: str) -> str | None:
    """The password a Redis URL carries, percent-decoded as redis-py decodes it (None without one)."""
    written = _written_password(url)
    return unquote(written) if written else None


def register_redis_password(url: str) -> None:
    """Mask the URL's password (as written, decoded, encoded) wherever it could be echoed: logs, errors."""
    written = _written_password(url)
    if written:
        for form in {written, unquote(written), quote(unquote(written), safe="")}:
            register_secret(form)


def unauthenticated_warning(url: str) -> str | None:
    """One line when the URL reaches Redis over TCP with no credentials (neither a password nor a TLS client
    certificate): then whoever can connect, on loopback every local user, reads and rewrites the fleet's
    state. A unix socket is guarded by its file permissions instead (`unixsocketperm`)."""
    parts = urlsplit(url)
    if parts.scheme == "unix" or redis_password(url) or parse_qs(parts.query).get("ssl_certfile"):
        return None
    where = f"{parts.hostname}:{parts.port or 6379}"
    return (
        f"the Redis URL (REPLICAS_MCP_REDIS_URL) has no password: anyone who can connect to {where} (on "
        "loopback, every local user) can read every caller's replica records there and forge the fleet's "
        "leases, rate limits, name locks and webhook claims. Set `requirepass` in redis.conf and use "
        "redis://:<password>@host:6379/0 (rediss:// to another host), or a unix socket only this service "
        "can open (README: Hosting for a team)."
    )


def redis_startup(url: str) -> tuple[list[str], str | None]:
    """What to say before serving with this Redis URL (warnings, one line each), and why not to start
    (Redis refuses its credentials) or None."""
    from replicas_mcp.server.state.redis_state import startup_check

    warnings = [warning] if (warning := unauthenticated_warning(url)) else []
    open_redis, problem = startup_check(url)
    return warnings + ([open_redis] if open_redis else []), problem
