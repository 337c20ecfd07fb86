"""The one convention for request bodies: `UNSET` means "not passed", `None` means JSON null.

Every optional body field of every resource method defaults to `UNSET` (a keyword the caller did not
pass) and is then not sent. An explicit `None` is sent as JSON `null` only for the fields the vendor
contract declares nullable (`nullable=`): that is how a PATCH clears a field. For any other field:

- in a PATCH (`patch_body`), `None` is refused with `RequestValidationError`: it would read as "clear it",
  which the API cannot do, and silently dropping it would hide that;
- elsewhere (`request_body`, creates and actions), `None` is the same as not passing the field, so callers
  may forward optional values as they are.

`UNSET` and `Unset` are public as `replicas_mcp.client.UNSET` / `replicas_mcp.client.Unset`.
"""

from __future__ import annotations

import enum
from collections.abc import Collection
from typing import Any, Final

from replicas_mcp.client.errors import RequestValidationError

__all__ = ["UNSET", "Unset", "patch_body", "request_body"]


class Unset(enum.Enum):
    """The type of `UNSET`: a keyword argument the caller did not pass."""

    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET: Final = Unset.UNSET


def request_body(*, nullable: Collection[str] = (), **fields: Any) -> dict[str, Any]:
    """The fields to send: `UNSET` dropped; `None` sent as null where `nullable`, otherwise dropped."""
    return {
        name: value
        for name, value in fields.items()
        if value is not UNSET and (value is not None or name in nullable)
    }


def patch_body(*, nullable: Collection[str] = (), **fields: Any) -> dict[str, Any]:
    """Like `request_body`, but a `None` for a field that cannot be null is an error, not a no-op."""
    for name, value in fields.items():
        if value is None and name not in nullable:
            raise RequestValidationError(
                f"{name} cannot be cleared (the API does not accept null for it); omit it to leave it"
                " unchanged, or pass a new value",
                field=name,
            )
    return request_body(nullable=nullable, **fields)
