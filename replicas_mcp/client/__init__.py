"""Async client of the Replicas API.

    async with ReplicasClient() as client:          # key from REPLICAS_API_KEY
        replica = await client.replicas.create(name="fix-auth-bug", message="...")
        async with client.events.stream(replica.id) as events:
            async for event in events:
                ...

Resource groups mirror the API: `replicas`, `chats`, `queue`, `history`, `canvas`, `hooks`, `events`,
`repositories`, `environments`, `automations`. Errors are in `replicas_mcp.client.errors`, models in
`replicas_mcp.client.models`. This package never imports `mcp`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING

import httpx2
from pydantic import SecretStr

from replicas_mcp.client._fields import UNSET, Unset
from replicas_mcp.client._http import DEFAULT_MAX_CONNECTIONS, DEFAULT_MAX_STREAMS, HttpCore
from replicas_mcp.client._redact import MASK
from replicas_mcp.client._retry import RetryPolicy
from replicas_mcp.client.canvas import Canvas
from replicas_mcp.client.chats import Chats
from replicas_mcp.client.config import DEFAULT_BASE_URL, resolve_settings
from replicas_mcp.client.errors import ConfigurationError, ReplicasError, StreamLimitError
from replicas_mcp.client.events import Events
from replicas_mcp.client.history import History
from replicas_mcp.client.hooks import Hooks
from replicas_mcp.client.queue import Queue
from replicas_mcp.client.replicas import Replicas
from replicas_mcp.client.repositories import Repositories
from replicas_mcp.client.webhooks import parse_webhook, verify_signature

if TYPE_CHECKING:
    from replicas_mcp.client.automations import Automations
    from replicas_mcp.client.environments import Environments

__all__ = [
    "DEFAULT_BASE_URL",
    "UNSET",
    "ConfigurationError",
    "ReplicasClient",
    "ReplicasError",
    "RetryPolicy",
    "StreamLimitError",
    "Unset",
    "parse_webhook",
    "verify_signature",
]


class ReplicasClient:
    """The Replicas API, one attribute per resource group. Use as an async context manager."""

    def __init__(
        self,
        api_key: str | SecretStr | None = None,
        base_url: str | None = None,
        *,
        timeout: float = 30.0,
        connect_timeout: float = 5.0,
        max_retries: int = 2,
        max_retry_after: float = 30.0,
        retry_deadline: float = 60.0,
        transport: httpx2.AsyncBaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        max_streams: int | None = None,
        _http: HttpCore | None = None,
    ) -> None:
        """`max_connections` sizes the request pool; `max_streams` (None: 256) caps the event streams open
        at once, on a pool of their own: past it, opening a stream raises `StreamLimitError` at once, and
        requests are never delayed by streams."""
        if _http is None:
            key, url = resolve_settings(api_key, base_url)
            try:
                policy = RetryPolicy(
                    max_retries=max_retries, max_retry_after=max_retry_after, deadline=retry_deadline
                )
            except ValueError as exc:
                raise ConfigurationError(str(exc)) from None
            _http = HttpCore.create(
                api_key=key,
                base_url=url,
                timeout=timeout,
                connect_timeout=connect_timeout,
                policy=policy,
                transport=transport,
                headers=headers,
                max_connections=max_connections,
                max_streams=DEFAULT_MAX_STREAMS if max_streams is None else max_streams,
            )
        self._http = _http
        self.replicas = Replicas(_http)
        self.chats = Chats(_http)
        self.queue = Queue(_http)
        self.history = History(_http)
        self.canvas = Canvas(_http)
        self.hooks = Hooks(_http)
        self.events = Events(_http)
        self.repositories = Repositories(_http)

    # The configuration side (and its many models) loads on first use: a server serving only the
    # workspace tools starts faster without it.
    @functools.cached_property
    def environments(self) -> Environments:
        from replicas_mcp.client.environments import Environments

        return Environments(self._http)

    @functools.cached_property
    def automations(self) -> Automations:
        from replicas_mcp.client.automations import Automations

        return Automations(self._http)

    @property
    def base_url(self) -> str:
        return self._http.base_url

    @property
    def max_streams(self) -> int:
        """How many event streams may be open at once (shared with `with_api_key` views)."""
        return self._http.streams.limit

    @property
    def open_streams(self) -> int:
        """How many event streams (engine events and hook runs) are open now, across key views."""
        return self._http.streams.open

    def with_api_key(self, api_key: str | SecretStr) -> ReplicasClient:
        """A view that authenticates as another caller and shares this client's connection pool.

        Closing the view does not close the pool; close the client that created it.
        """
        key = api_key if isinstance(api_key, SecretStr) else SecretStr(api_key)
        return ReplicasClient(_http=self._http.with_api_key(SecretStr(key.get_secret_value().strip())))

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> ReplicasClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"ReplicasClient(base_url={self.base_url!r}, api_key={MASK!r})"
