"""The sandbox's one error type and the API's error envelope.

Every handler raises `ApiError`; the app turns it into `{"error": ..., "details": ...}` with the status.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An API failure with the status code and the envelope the real API sends."""

    def __init__(
        self,
        status: int,
        error: str,
        details: str | None = None,
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {error}")
        self.status = status
        self.error = error
        self.details = details
        self.headers = headers or {}

    def envelope(self) -> dict[str, Any]:
        return {"error": self.error, "details": self.details}


def bad_request(error: str, details: str | None = None) -> ApiError:
    return ApiError(400, error, details)


def not_found(what: str, ident: str) -> ApiError:
    return ApiError(404, f"{what} not found", f"No {what.lower()} with id {ident!r} in this organization")


def conflict(error: str, details: str | None = None) -> ApiError:
    return ApiError(409, error, details)
