"""Which shared-state backend a server runs on: in process, or Redis for a fleet.

Kept apart from `shared.py` (the interfaces), which the Redis backend imports: choosing the backend here
keeps the two free of an import cycle. The Redis modules are imported only when a URL is configured, so a
single-process server never pays for loading the Redis client at start.

`build_server` creates the server's `SharedState` and records it against the server (`attach`), so the HTTP
layer built around that server later (`http_app`: the byo-key session cap) counts in the same store.
"""

from __future__ import annotations

from weakref import WeakKeyDictionary

from replicas_mcp.server.state.shared import SharedState

_ATTACHED: WeakKeyDictionary[object, SharedState] = WeakKeyDictionary()


def shared_state_for(redis_url: str | None) -> SharedState:
    """In process without a URL; Redis with one."""
    if not redis_url:
        return SharedState()
    from replicas_mcp.server.state.redis_state import RedisSharedState

    return RedisSharedState(redis_url)


def attach(server: object, shared: SharedState) -> None:
    _ATTACHED[server] = shared


def attached(server: object) -> SharedState | None:
    """The shared state `build_server` made for `server` (None for a server built some other way)."""
    return _ATTACHED.get(server)
