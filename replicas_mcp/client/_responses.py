"""Reading an HTTP answer into the error tree: status -> exception class, Retry-After, request ids.

Pure functions over httpx2 objects, used by the HTTP core. They map by status only: what a status
means for one endpoint (a workspace's 409) is the resource layer's business.
"""

from __future__ import annotations

import email.utils
import json as jsonlib
import time

import httpx2

from replicas_mcp.client.errors import (
    APIStatusError,
    ConnectError,
    RequestTimeoutError,
    TransportError,
    error_for_status,
)

__all__ = ["error_from_response", "parse_retry_after", "request_id_of", "transport_error"]

_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-replicas-request-id")
# How much of a non-JSON error body is quoted in the message.
_BODY_SNIPPET = 300


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date); None if absent or bad."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    return max(0.0, seconds)


def request_id_of(response: httpx2.Response) -> str | None:
    for name in _REQUEST_ID_HEADERS:
        if value := response.headers.get(name):
            return value
    return None


def error_from_response(response: httpx2.Response, body: bytes) -> APIStatusError:
    """The error-tree exception for a non-2xx answer, by status only (no API-specific guessing here)."""
    status = response.status_code
    error: str | None = None
    details: object = None
    try:
        payload = jsonlib.loads(body) if body else None
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        raw_error = payload.get("error")
        error = raw_error if isinstance(raw_error, str) else (None if raw_error is None else str(raw_error))
        details = payload.get("details")
    elif body:
        error = body[:_BODY_SNIPPET].decode("utf-8", "replace")
    request = response.request
    message = f"{request.method} {request.url.path} -> {status}"
    if error:
        message += f": {error}"
    if isinstance(details, str) and details:
        message += f" ({details})"
    retry_after = parse_retry_after(response.headers.get("retry-after"))
    cls = error_for_status(status)
    return cls(
        message,
        status=status,
        error=error,
        details=details,
        request_id=request_id_of(response),
        retry_after=retry_after,
    )


def transport_error(exc: httpx2.TransportError, method: str, path: str) -> TransportError:
    """Map httpx2's transport failures: did the request provably never reach the server?"""
    where = f"{method} {path}"
    if isinstance(exc, httpx2.ConnectError | httpx2.ConnectTimeout | httpx2.PoolTimeout):
        # No connection was ever handed this request: nothing reached the server.
        return ConnectError(f"{where}: could not connect ({type(exc).__name__})")
    if isinstance(exc, httpx2.TimeoutException):
        return RequestTimeoutError(f"{where}: timed out after sending ({type(exc).__name__})")
    return TransportError(f"{where}: connection failed mid-request ({type(exc).__name__}: {exc})")
