"""Request-building helpers shared by the configuration resources (environments, automations).

PATCH bodies must tell "leave this field alone" from "clear this field": the first is a keyword the
caller did not pass (`UNSET`, never sent), the second an explicit `None` (sent as JSON `null`).

Checks that can be made without the API (sizes, shapes, mutually exclusive fields) raise
`RequestValidationError` before anything is sent: it is a `BadRequestError`, because that is what the
API would have answered, so callers handle both the same way.
"""

from __future__ import annotations

import enum
from typing import Any, Final

from replicas_mcp.client.errors import BadRequestError

__all__ = ["UNSET", "RequestValidationError", "Unset", "present_fields"]


class Unset(enum.Enum):
    """The type of `UNSET`: a keyword argument the caller did not pass."""

    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET: Final = Unset.UNSET


class RequestValidationError(BadRequestError, ValueError):
    """The request was rejected by the client before it was sent (the API would have answered 400)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(f"Invalid request (not sent): {message}", status=400, error=message, details=field)
        self.field = field


def present_fields(**fields: Any) -> dict[str, Any]:
    """The fields the caller passed: `UNSET` ones are dropped, `None` ones are kept (sent as null)."""
    return {name: value for name, value in fields.items() if value is not UNSET}
