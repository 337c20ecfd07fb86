"""Which shared-state backend a server runs on: in process, or Redis for a fleet.

Kept apart from `shared.py` (the interfaces), which the Redis backend imports: choosing the backend here
keeps the two free of an import cycle. The Redis modules are imported only when a URL is configured, so a
single-process server never pays for loading the Redis client at start.
"""

from __future__ import annotations

from replicas_mcp.server.state.shared import SharedState


def shared_state_for(redis_url: str | None) -> SharedState:
    """In process without a URL; Redis with one."""
    if not redis_url:
        return SharedState()
    from replicas_mcp.server.state.redis_state import RedisSharedState

    return RedisSharedState(redis_url)
