"""Who the current request acts for, and with which key: read from the SDK's per-request access token.

In `--auth byo-key` mode the token is the caller's own Replicas API key (see `auth.py`); in every other mode
(stdio, in-memory, HTTP with the server's key) there is no token and every request acts as `SERVER_CALLER`.
"""

from __future__ import annotations

from mcp.server.auth.middleware.auth_context import get_access_token

from replicas_mcp.client import ReplicasClient
from replicas_mcp.client.errors import ConfigurationError

# The one identity of server-key mode: everything is watched, cached and notified as this caller.
SERVER_CALLER = "server-key"


def caller_client(base: ReplicasClient) -> ReplicasClient:
    """The client view for the caller of the current request (byo-key mode): `base`'s connection pool with
    the request's bearer key. Outside a request it raises instead of falling back to any other key."""
    token = get_access_token()
    if token is None:
        raise ConfigurationError(
            "this server runs with --auth byo-key: each request must carry the caller's own Replicas API key "
            "as its bearer token"
        )
    return base.with_api_key(token.token)


def current_caller() -> str:
    """Who the current request acts for: the keyed fingerprint of its byo-key bearer key, else (server-key
    mode, stdio, in-memory, outside a request) the one identity `SERVER_CALLER`."""
    token = get_access_token()
    return token.subject if token is not None and token.subject else SERVER_CALLER
