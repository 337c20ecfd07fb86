"""The one HTTP layer under every resource group.

`HttpCore` owns two `httpx2.AsyncClient`s (shared by `with_api_key` views): one connection pool for
requests and one for event streams, so no number of open streams can delay a request. Streams are
also counted against `max_streams`: past it, opening one more raises `StreamLimitError` at once instead
of queueing for a connection (callers degrade: share a stream, poll). It adds the bearer key per
request, never follows redirects, maps every failure into `replicas_mcp.client.errors` by status, and
applies the retry policy (see `_retry.py`). Resource modules build paths with `api_path` and call
`request_json` or `stream_sse`; nothing else in the client touches httpx2.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import json as jsonlib
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import Any, cast
from urllib.parse import quote

import httpx2
import stamina
from pydantic import SecretStr

from replicas_mcp.client._redact import (
    MASK,
    install_log_redaction,
    redact_text,
    register_secret,
    register_transient_secret,
)
from replicas_mcp.client._responses import (
    error_from_response,
    parse_retry_after,
    request_id_of,
    transport_error,
)
from replicas_mcp.client._retry import RetryPolicy, install_retry_logging, retrying
from replicas_mcp.client.errors import (
    APIStatusError,
    ConfigurationError,
    InvalidIdentifierError,
    RateLimitedError,
    ReplicasError,
    StreamLimitError,
    TransportError,
    error_for_status,
)

__all__ = [
    "API_VERSION",
    "API_VERSION_HEADER",
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_MAX_STREAMS",
    "HttpCore",
    "StreamBudget",
    "api_path",
    "parse_retry_after",
]

logger = logging.getLogger("replicas_mcp.client")
# Logger filters only see records logged on that exact logger, so httpcore2's children are named too.
install_log_redaction(
    "replicas_mcp.client",
    "stamina",
    "httpx2",
    "httpcore2",
    "httpcore2.connection",
    "httpcore2.http11",
    "httpcore2.http2",
    "httpcore2.proxy",
)
install_retry_logging()  # one line per retry in words, at INFO (see `_retry.py`)

API_VERSION_HEADER = "X-Replicas-Api-Version"
API_VERSION = "2026-05-17"
_USER_AGENT = "replicas-mcp-client/0.1"
# Default budgets: the request pool (httpx's usual size) and the number of event streams open at once.
DEFAULT_MAX_CONNECTIONS = 100
DEFAULT_MAX_STREAMS = 256


def api_path(template: str, *segments: str) -> str:
    """Fill each `{}` in `template` with a percent-encoded segment.

    Every character outside the unreserved set is encoded (`safe=""`), so an id can never add a path
    level, a query or a fragment; empty, `.` and `..` segments are rejected outright.
    """
    if template.count("{}") != len(segments):
        raise ValueError(
            f"template {template!r} expects {template.count('{}')} segments, got {len(segments)}"
        )
    encoded = []
    for segment in segments:
        if not isinstance(segment, str):
            raise InvalidIdentifierError(f"path segment must be a string, got {type(segment).__name__}")
        if segment in ("", ".", ".."):
            raise InvalidIdentifierError(f"invalid identifier {segment!r}: empty, '.' and '..' are not ids")
        encoded.append(quote(segment, safe=""))
    return template.format(*encoded)


def _clean_params(params: Mapping[str, object] | None) -> dict[str, str | list[str]] | None:
    """Query parameters with None dropped and booleans spelled the way the API expects."""
    if not params:
        return None
    cleaned: dict[str, str | list[str]] = {}
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, bool):
            cleaned[key] = "true" if value else "false"
        elif isinstance(value, list | tuple):
            cleaned[key] = [str(v) for v in value]
        else:
            cleaned[key] = str(value)
    return cleaned


@dataclasses.dataclass
class StreamBudget:
    """How many event streams are open, against the limit (shared by a client and its key views)."""

    limit: int
    open: int = 0

    def acquire(self, what: str) -> None:
        if self.open >= self.limit:
            raise StreamLimitError(
                f"{what}: all {self.limit} event-stream slots of this client are in use; close a stream,"
                " share one, or poll instead (requests are not affected)",
                limit=self.limit,
            )
        self.open += 1

    def release(self) -> None:
        self.open = max(0, self.open - 1)


def _check_key(api_key: SecretStr) -> None:
    """A key that can be sent in an HTTP header: set, printable ASCII, no spaces. A character pasted with it
    (a curly quote, a zero-width space) is named by position, never with the key around it."""
    key = api_key.get_secret_value()
    if not key:
        raise ConfigurationError("the API key is empty")
    for position, char in enumerate(key, start=1):
        if not ("!" <= char <= "~"):
            raise ConfigurationError(
                f"the API key has a character an HTTP header cannot carry (U+{ord(char):04X}) at position "
                f"{position}: paste the key again as plain text"
            )


class HttpCore:
    """Two connection pools (requests, streams), one API key, the retry policy and the error mapping.

    Create it with `HttpCore.create(...)` (or through `ReplicasClient`); close it with `aclose()`.
    """

    def __init__(
        self,
        *,
        client: httpx2.AsyncClient,
        stream_client: httpx2.AsyncClient,
        streams: StreamBudget,
        api_key: SecretStr,
        policy: RetryPolicy,
        owns_client: bool,
    ) -> None:
        self._client = client
        self._stream_client = stream_client
        self.streams = streams
        self._api_key = api_key
        self.policy = policy
        self._owns_client = owns_client
        # Keys the built-in pattern masks (`sk_replicas_…`) are not registered. Others are: the owning
        # client's for the life of the process, a view's (one per caller) in a bounded recent-keys list.
        if owns_client:
            register_secret(api_key.get_secret_value())
        else:
            register_transient_secret(api_key.get_secret_value())

    @classmethod
    def create(
        cls,
        *,
        api_key: SecretStr,
        base_url: str,
        timeout: float = 30.0,
        connect_timeout: float = 5.0,
        policy: RetryPolicy | None = None,
        transport: httpx2.AsyncBaseTransport | None = None,
        headers: Mapping[str, str] | None = None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        max_streams: int = DEFAULT_MAX_STREAMS,
    ) -> HttpCore:
        """`max_connections`: the request pool's size; `max_streams`: event streams open at once (their
        own pool). A given `transport` (tests) serves both pools."""
        _check_key(api_key)
        if not 0 < connect_timeout <= 5.0:
            raise ConfigurationError(f"connect_timeout must be in (0, 5] seconds, got {connect_timeout}")
        url = httpx2.URL(base_url)
        if url.scheme not in ("http", "https") or not url.host:
            raise ConfigurationError(
                f"base URL must be an http(s) URL with a host, got {redact_text(base_url)!r}"
            )
        extra = dict(headers or {})
        if any(name.lower() == "authorization" for name in extra):
            raise ConfigurationError("pass the API key as api_key, not as a header")
        if max_connections < 1 or max_streams < 1:
            raise ConfigurationError(
                f"max_connections and max_streams must be >= 1, got {max_connections} and {max_streams}"
            )

        def pool(limits: httpx2.Limits, pool_timeout: float) -> httpx2.AsyncClient:
            return httpx2.AsyncClient(
                base_url=str(url).rstrip("/"),
                timeout=httpx2.Timeout(timeout, connect=connect_timeout, pool=pool_timeout),
                follow_redirects=False,
                headers={"User-Agent": _USER_AGENT, "Accept": "application/json", **extra},
                transport=transport,
                limits=limits,
            )

        requests = pool(
            httpx2.Limits(
                max_connections=max_connections, max_keepalive_connections=min(20, max_connections)
            ),
            timeout,
        )
        # The budget admits at most `max_streams` streams, so this pool always has a free connection: its
        # pool timeout is a guard, never a queue.
        streams = pool(
            httpx2.Limits(max_connections=max_streams, max_keepalive_connections=0), connect_timeout
        )
        return cls(
            client=requests,
            stream_client=streams,
            streams=StreamBudget(limit=max_streams),
            api_key=api_key,
            policy=policy or RetryPolicy(),
            owns_client=True,
        )

    def with_api_key(self, api_key: SecretStr) -> HttpCore:
        """A view that authenticates as another caller over the same connection pool."""
        _check_key(api_key)
        return HttpCore(
            client=self._client,
            stream_client=self._stream_client,
            streams=self.streams,
            api_key=api_key,
            policy=self.policy,
            owns_client=False,
        )

    @property
    def base_url(self) -> str:
        return str(self._client.base_url)

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()
            await self._stream_client.aclose()

    def __repr__(self) -> str:
        return f"HttpCore(base_url={self.base_url!r}, api_key={MASK!r})"

    def _timeout(self, read_timeout: float | None, *, stream: bool = False) -> httpx2.Timeout:
        """The pool's timeouts, with the read timeout replaced for calls the API answers slowly."""
        timeout = (self._stream_client if stream else self._client).timeout
        if read_timeout is None:
            return timeout
        return httpx2.Timeout(timeout.read, connect=timeout.connect, pool=timeout.pool, read=read_timeout)

    def _headers(self, headers: Mapping[str, str] | None) -> dict[str, str]:
        merged = dict(headers or {})
        merged["Authorization"] = f"Bearer {self._api_key.get_secret_value()}"
        return merged

    async def _send_once(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str | list[str]] | None,
        json: object,
        headers: Mapping[str, str] | None,
        read_timeout: float | None = None,
    ) -> Any:
        request = self._client.build_request(
            method,
            path,
            params=params,
            json=json,
            headers=self._headers(headers),
            timeout=self._timeout(read_timeout),
        )
        started = time.monotonic()
        try:
            response = await self._client.send(request)
        except httpx2.TransportError as exc:
            logger.debug("%s %s failed: %s", method, path, type(exc).__name__)
            raise transport_error(exc, method, path) from None
        try:
            body = await response.aread()
        except httpx2.TransportError as exc:
            raise transport_error(exc, method, path) from None
        finally:
            await response.aclose()
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "%s %s -> %s in %.3fs (request id %s)",
                method,
                path,
                response.status_code,
                time.monotonic() - started,
                request_id_of(response),
            )
        return _parsed_answer(method, path, response, body)

    async def request_json(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, object] | None = None,
        json: object = None,
        headers: Mapping[str, str] | None = None,
        policy: RetryPolicy | None = None,
        read_timeout: float | None = None,
    ) -> Any:
        """Send one API call, retried per the policy for `method`; the parsed JSON body (None if empty).

        `read_timeout` overrides the client's read timeout for calls the API answers slowly by design
        (synchronous hook tests run a real sandbox for up to minutes).

        Raises the error tree by status. What a status means for one API (e.g. a workspace's 409:
        sleeping or error state) is decided by the resource layer above, not here.
        """
        method = method.upper()
        cleaned = _clean_params(params)
        policy = policy or self.policy
        should_retry = policy.hook_for(method, started=time.monotonic())
        send = functools.partial(
            self._send_once,
            method,
            path,
            params=cleaned,
            json=json,
            headers=headers,
            read_timeout=read_timeout,
        )
        try:
            # Most calls succeed at once: send the first attempt without building a retry context.
            try:
                return await send()
            except (TransportError, APIStatusError) as exc:
                if policy.max_retries == 0 or should_retry(exc) is False:
                    raise
                first_failure: Exception | None = exc
            # Replay that failure as attempt 1, so stamina's backoff, Retry-After and deadline apply as if
            # the loop had sent it; the request itself is never sent twice for one attempt.
            with retrying(f"{method} {path}", policy.max_retries):
                async for attempt in stamina.retry_context(
                    on=should_retry,
                    attempts=policy.max_retries + 1,
                    timeout=policy.deadline,
                    wait_initial=policy.wait_initial,
                    wait_max=policy.wait_max,
                    wait_jitter=policy.wait_jitter,
                ):
                    with attempt:
                        if first_failure is not None:
                            replay, first_failure = first_failure, None
                            raise replay
                        return await send()
        except APIStatusError as exc:
            raise _final_error(exc, policy.max_retry_after) from None
        raise AssertionError("unreachable: the retry loop either returns or raises")

    @contextlib.asynccontextmanager
    async def stream_sse(
        self,
        method: str,
        path: str,
        *,
        json: object = None,
        params: Mapping[str, object] | None = None,
        headers: Mapping[str, str] | None = None,
        read_timeout: float | None = None,
    ) -> AsyncIterator[AsyncIterator[httpx2.ServerSentEvent]]:
        """Open one SSE connection (no retry, no reconnect) on the stream pool and yield its events.

        Raises `StreamLimitError` at once when `max_streams` streams are open. Non-2xx answers raise the
        mapped error on entry; a drop mid-stream raises `TransportError` from the iterator. Leaving the
        context (including by cancellation) closes the connection and frees its slot.
        """
        method = method.upper()
        self.streams.acquire(f"{method} {path}")
        try:
            async with self._open_stream(method, path, json, params, headers, read_timeout) as events:
                yield events
        finally:
            self.streams.release()

    @contextlib.asynccontextmanager
    async def _open_stream(
        self,
        method: str,
        path: str,
        json: object,
        params: Mapping[str, object] | None,
        headers: Mapping[str, str] | None,
        read_timeout: float | None,
    ) -> AsyncIterator[AsyncIterator[httpx2.ServerSentEvent]]:
        sse_headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache", **(headers or {})}
        request = self._stream_client.build_request(
            method,
            path,
            params=_clean_params(params),
            json=json,
            headers=self._headers(sse_headers),
            timeout=self._timeout(read_timeout, stream=True),
        )
        try:
            response = await self._stream_client.send(request, stream=True)
        except httpx2.TransportError as exc:
            raise transport_error(exc, method, path) from None
        try:
            if not response.is_success:
                try:
                    body = await response.aread()
                except httpx2.TransportError as exc:
                    raise transport_error(exc, method, path) from None
                error = error_from_response(response, body)
                raise _final_error(error, self.policy.max_retry_after)
            logger.debug("%s %s -> %s (event stream open)", method, path, response.status_code)
            yield _translate_stream_errors(httpx2.EventSource(response), method, path)
        finally:
            await response.aclose()


async def _translate_stream_errors(
    source: httpx2.EventSource, method: str, path: str
) -> AsyncIterator[httpx2.ServerSentEvent]:
    try:
        events_gen = cast(AsyncGenerator[httpx2.ServerSentEvent, None], source.__aiter__())
        async with contextlib.aclosing(events_gen) as events:
            async for event in events:
                yield event
    except httpx2.SSEError as exc:
        raise TransportError(f"{method} {path}: bad event stream: {exc}") from None
    except httpx2.TransportError as exc:
        raise transport_error(exc, method, path) from None


def _parsed_answer(method: str, path: str, response: httpx2.Response, body: bytes) -> Any:
    """A read response: its JSON body (None if empty), else the mapped error (a redirect is not followed)."""
    if response.is_success:
        if not body.strip():
            return None
        try:
            return jsonlib.loads(body)
        except ValueError:
            raise ReplicasError(
                f"{method} {path}: the API answered {response.status_code} with a body that is not JSON",
                status=response.status_code,
                request_id=request_id_of(response),
            ) from None
    if 300 <= response.status_code < 400:
        raise error_for_status(response.status_code)(
            f"{method} {path} -> {response.status_code}: redirect not followed"
            f" (Location: {redact_text(response.headers.get('location', '?'))})",
            status=response.status_code,
            request_id=request_id_of(response),
        )
    raise error_from_response(response, body)


def _final_error(exc: APIStatusError, cap: float) -> APIStatusError:
    """The error the caller sees once retries are over: a 429/503 asking to wait longer than `cap`
    seconds becomes `RateLimitedError` saying so."""
    if (
        exc.status in (429, 503)
        and exc.retry_after is not None
        and exc.retry_after > cap
        and not isinstance(exc, RateLimitedError)
    ):
        return RateLimitedError(
            f"{exc.message} (asked to wait {exc.retry_after:.0f}s, more than the {cap:.0f}s cap)",
            status=exc.status,
            error=exc.error,
            details=exc.details,
            request_id=exc.request_id,
            retry_after=exc.retry_after,
        )
    return exc
