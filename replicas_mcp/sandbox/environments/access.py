"""How the environment routes reach the caller's organization configuration."""

from __future__ import annotations

from starlette.requests import Request

from replicas_mcp.sandbox.environments.store import OrgConfig


def config_of(request: Request) -> OrgConfig:
    """The caller's organization configuration (put on the request by the auth middleware)."""
    config: OrgConfig = request.state.config
    return config
