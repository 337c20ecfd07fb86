"""Every exception the Replicas client raises.

One tree, so callers can catch as broadly or as narrowly as they need::

    ReplicasError                       base; .status, .error (API "error"), .details, .request_id
    ├── ConfigurationError              no API key, bad base URL
    ├── InvalidIdentifierError          (also a ValueError) an id that is empty, "." or ".."
    ├── TransportError
    │   ├── ConnectError                the request never reached the server
    │   └── RequestTimeoutError         the server may have received it
    ├── APIStatusError                  any non-2xx answer; .retry_after when the server sent one
    │   ├── BadRequestError             400
    │   │   └── RequestValidationError      (also a ValueError) refused by the client before sending; .field
    │   ├── AuthenticationError         401
    │   ├── PermissionDeniedError       403
    │   ├── NotFoundError               404
    │   ├── ConflictError               409
    │   │   ├── WorkspaceSleepingError      recoverable: wake it
    │   │   └── WorkspaceErrorStateError    terminal
    │   ├── PayloadTooLargeError        413
    │   ├── RateLimitedError            429; .retry_after (seconds, float | None)
    │   └── ServerError                 5xx
    ├── CreateOutcomeUnknownError       a create may or may not have happened and no replica was found by name
    ├── WakeTimeoutError                (also a TimeoutError) wake_and_wait ran out of time
    ├── StreamError                     the SSE stream could not be (re)established within its attempts
    ├── StreamLimitError                every stream slot of the client is taken; .limit (requests still flow)
    └── WebhookVerificationError        a webhook's signature is missing or wrong, or its body is not an event

Messages are built only from what the API said and what the caller asked, and every message is passed
through the redactor, so neither `str()` nor `repr()` of an error can show an API key or webhook secret.
"""

from __future__ import annotations

from replicas_mcp.client._redact import redact_text

__all__ = [
    "APIStatusError",
    "AuthenticationError",
    "BadRequestError",
    "ConfigurationError",
    "ConflictError",
    "ConnectError",
    "CreateOutcomeUnknownError",
    "InvalidIdentifierError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitedError",
    "ReplicasError",
    "RequestTimeoutError",
    "RequestValidationError",
    "ServerError",
    "StreamError",
    "StreamLimitError",
    "TransportError",
    "WakeTimeoutError",
    "WebhookVerificationError",
    "WorkspaceErrorStateError",
    "WorkspaceSleepingError",
    "error_for_status",
]


class ReplicasError(Exception):
    """Base of every client error.

    `status`, `error`, `details` and `request_id` are None when the failure did not come from an
    API answer (a connection error, a configuration problem).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        error: str | None = None,
        details: object = None,
        request_id: str | None = None,
    ) -> None:
        self.message = redact_text(message)
        self.status = status
        self.error = redact_text(error) if error is not None else None
        self.details = _redact_details(details)
        self.request_id = request_id
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        parts = [repr(self.message)]
        if self.status is not None:
            parts.append(f"status={self.status}")
        if self.request_id is not None:
            parts.append(f"request_id={self.request_id!r}")
        return f"{type(self).__name__}({', '.join(parts)})"


class ConfigurationError(ReplicasError):
    """The client cannot be built: no API key, or a base URL that is not http(s)."""


class InvalidIdentifierError(ReplicasError, ValueError):
    """An id or path segment that would change the URL's meaning (empty, "." or "..")."""


class TransportError(ReplicasError):
    """No HTTP answer was received."""


class ConnectError(TransportError):
    """The connection could not be opened: the request provably never reached the server."""


class RequestTimeoutError(TransportError):
    """The request timed out after it may have been sent: its outcome on the server is unknown."""


class APIStatusError(ReplicasError):
    """The API answered with a non-2xx status."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        error: str | None = None,
        details: object = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status=status, error=error, details=details, request_id=request_id)
        self.retry_after = retry_after


class BadRequestError(APIStatusError):
    """400: missing or invalid parameters."""


class RequestValidationError(BadRequestError, ValueError):
    """The client refused the request before sending it: the API would have answered 400.

    Raised for what can be checked without a round trip (sizes, shapes, mutually exclusive fields, a
    `null` for a field the contract does not let be null). `field` names the offending argument, if one.
    A `BadRequestError`, so callers handle it like the API's own 400.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(f"Invalid request (not sent): {message}", status=400, error=message, details=field)
        self.field = field


class AuthenticationError(APIStatusError):
    """401: the API key is missing, invalid or revoked."""


class PermissionDeniedError(APIStatusError):
    """403: the key is valid but may not touch this resource."""


class NotFoundError(APIStatusError):
    """404: no such resource in this organization (or it belongs to another one)."""


class ConflictError(APIStatusError):
    """409: the operation conflicts with the resource's current state."""


class WorkspaceSleepingError(ConflictError):
    """409 because the workspace is asleep: recoverable by waking it (see `replicas.wake_and_wait`)."""


class WorkspaceErrorStateError(ConflictError):
    """409 because the workspace is in its terminal error state: it cannot be woken or messaged."""


class PayloadTooLargeError(APIStatusError):
    """413: the request body is over the API's limit."""


class RateLimitedError(APIStatusError):
    """429 (or a Retry-After longer than the client will wait): `retry_after` says how long, if known."""


class ServerError(APIStatusError):
    """5xx: the API or the workspace behind it failed."""


class CreateOutcomeUnknownError(ReplicasError):
    """A create may have happened (timeout after sending, or 5xx) and no replica with its name was found.

    The create is not re-sent: look again later with `replicas.find_by_name(name)`.
    """

    def __init__(self, message: str, *, name: str, cause: ReplicasError | None = None) -> None:
        super().__init__(
            message,
            status=cause.status if cause else None,
            error=cause.error if cause else None,
            details=cause.details if cause else None,
            request_id=cause.request_id if cause else None,
        )
        self.name = name


class WakeTimeoutError(ReplicasError, TimeoutError):
    """`replicas.wake_and_wait` ran out of time; `last_status` is the status it last saw."""

    def __init__(self, message: str, *, last_status: str) -> None:
        super().__init__(message)
        self.last_status = last_status


class StreamError(ReplicasError):
    """The event stream dropped and could not be re-established within its attempts."""


class StreamLimitError(ReplicasError):
    """Opening one more event stream would pass the client's stream limit (`max_streams`).

    Streams have their own connection pool, so requests are never delayed by them; past the limit a new
    stream is refused at once (no waiting). Callers degrade: share a stream, poll, or retry later.
    """

    def __init__(self, message: str, *, limit: int) -> None:
        super().__init__(message)
        self.limit = limit


class WebhookVerificationError(ReplicasError):
    """A webhook delivery failed verification: bad or missing signature, or a body that is not an event."""


_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: PayloadTooLargeError,
    429: RateLimitedError,
}


def error_for_status(status: int) -> type[APIStatusError]:
    """The exception class for an HTTP status (409 refinement into sleeping/error happens elsewhere)."""
    if status in _STATUS_CLASSES:
        return _STATUS_CLASSES[status]
    if status >= 500:
        return ServerError
    return APIStatusError


def _redact_details(details: object) -> object:
    if isinstance(details, str):
        return redact_text(details)
    if details is None or isinstance(details, int | float | bool):
        return details
    # Structured details: keep their shape only if redaction leaves the text unchanged.
    return details if redact_text(repr(details)) == repr(details) else redact_text(repr(details))
