"""Request parsing and answers shared by every route module (workspaces, environments, automations).

Every helper raises `ApiError(400)` with a message that names the field and says what to send instead,
so a caller (often a model) can fix its request from the error alone. Top-level unknown fields in request
bodies are ignored, as the API does; nested configs (MCP, trigger) are checked strictly by their validators.
"""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator, Iterable, Mapping
from enum import Enum
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse

from replicas_mcp.sandbox.errors import bad_request
from replicas_mcp.sandbox.fidelity import Fidelity
from replicas_mcp.sandbox.tenancy import Caller

T = TypeVar("T")


class Unset(Enum):
    """Marks a PATCH field the request did not mention (distinct from an explicit null)."""

    UNSET = "unset"


UNSET = Unset.UNSET


def caller_of(request: Request) -> Caller:
    caller: Caller = request.state.caller
    return caller


def respond(payload: Mapping[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse(dict(payload), status_code=status)


async def read_object(
    request: Request, *, optional: bool = False, non_nullable: Iterable[str] = ()
) -> dict[str, Any]:
    """The JSON object in the request body. An empty body is `{}` when `optional`.

    In strict mode a null for one of `non_nullable` (the fields the contract does not make nullable) is a
    400; otherwise the sandbox reads such a null as "absent" (an extension).
    """
    raw = await request.body()
    if not raw.strip():
        if optional:
            return {}
        raise bad_request(
            "Request body is required", "Send a JSON object with Content-Type: application/json."
        )
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise bad_request("Request body is not valid JSON", f"Could not parse the body: {exc.msg}.") from None
    except UnicodeDecodeError:
        raise bad_request("Request body is not valid JSON", "The body must be UTF-8 encoded JSON.") from None
    if not isinstance(data, dict):
        raise bad_request("Request body must be a JSON object", f"Got a JSON {type(data).__name__} instead.")
    fidelity: Fidelity | None = getattr(request.state, "fidelity", None)
    if fidelity is not None:
        fidelity.reject_nulls(data, non_nullable)
    return data


def is_strict(request: Request) -> bool:
    """Whether the sandbox serving this request is in strict contract mode (see `fidelity.py`)."""
    found: Fidelity | None = getattr(request.state, "fidelity", None)
    return found is not None and found.strict


def require(body: Mapping[str, Any], field: str) -> Any:
    if field not in body or body[field] is None:
        raise bad_request(f"Missing required field '{field}'", f"Add '{field}' to the request body.")
    return body[field]


def expect_str(value: Any, field: str, *, allow_empty: bool = False, max_length: int | None = None) -> str:
    if not isinstance(value, str):
        raise bad_request(f"Invalid field '{field}'", f"'{field}' must be a string.")
    if not allow_empty and not value.strip():
        raise bad_request(f"Invalid field '{field}'", f"'{field}' must not be empty.")
    if max_length is not None and len(value) > max_length:
        raise bad_request(f"Invalid field '{field}'", f"'{field}' must be at most {max_length} characters.")
    return value


def expect_optional_str(value: Any, field: str, *, max_length: int | None = None) -> str | None:
    if value is None:
        return None
    return expect_str(value, field, allow_empty=True, max_length=max_length)


def expect_bool(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise bad_request(f"Invalid field '{field}'", f"'{field}' must be true or false.")
    return value


def expect_optional_bool(value: Any, field: str) -> bool | None:
    return None if value is None else expect_bool(value, field)


def expect_int(value: Any, field: str, *, minimum: int, maximum: int) -> int:
    # bool is an int subclass in Python; `true` is not a number on the wire.
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad_request(
            f"Invalid field '{field}'", f"'{field}' must be an integer from {minimum} to {maximum}."
        )
    if not minimum <= value <= maximum:
        raise bad_request(
            f"Invalid field '{field}'", f"'{field}' must be between {minimum} and {maximum}; got {value}."
        )
    return value


def expect_choice(value: Any, field: str, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise bad_request(f"Invalid field '{field}'", f"'{field}' must be one of: {', '.join(choices)}.")
    return value


def expect_optional_choice(value: Any, field: str, choices: tuple[str, ...]) -> str | None:
    return None if value is None else expect_choice(value, field, choices)


def not_null(body: Mapping[str, Any], field: str) -> Any:
    """The value of a field the body has; 400 when it is null (PATCH: omit a field to leave it unchanged)."""
    if body[field] is None:
        raise bad_request(
            f"Invalid field '{field}'", f"'{field}' cannot be null; omit it to leave it unchanged."
        )
    return body[field]


def expect_object(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise bad_request(f"Invalid field '{field}'", f"'{field}' must be a JSON object.")
    return value


def expect_str_list(value: Any, field: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise bad_request(f"Invalid field '{field}'", f"'{field}' must be a list of strings.")
    return list(value)


def expect_str_map(value: Any, field: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(item, str) for item in value.values()):
        raise bad_request(
            f"Invalid field '{field}'", f"'{field}' must be an object whose values are strings."
        )
    return dict(value)


def reject_unknown(config: Mapping[str, Any], field: str, allowed: tuple[str, ...]) -> None:
    unknown = sorted(set(config) - set(allowed))
    if unknown:
        allowed_text = ", ".join(allowed) if allowed else "no keys"
        raise bad_request(
            f"Invalid field '{field}'",
            f"Unknown key(s) {', '.join(unknown)} in '{field}'; it accepts {allowed_text}.",
        )


def query_int(request: Request, name: str, *, default: int, minimum: int, maximum: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(
            f"Invalid query parameter '{name}'", f"'{name}' must be an integer from {minimum} to {maximum}."
        ) from None
    if not minimum <= value <= maximum:
        raise bad_request(
            f"Invalid query parameter '{name}'",
            f"'{name}' must be between {minimum} and {maximum}; got {value}.",
        )
    return value


def query_choice(request: Request, name: str, choices: tuple[str, ...], *, default: T) -> str | T:
    """The query parameter, one of `choices`; `default` when it is absent or empty."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if raw not in choices:
        raise bad_request(
            f"Invalid query parameter '{name}'", f"'{name}' must be one of: {', '.join(choices)}."
        )
    return raw


def query_bool(request: Request, name: str) -> bool | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    lowered = raw.lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise bad_request(f"Invalid query parameter '{name}'", f"'{name}' must be true or false; got {raw!r}.")


def paginate(items: list[T], *, page: int, limit: int) -> tuple[list[T], int]:
    """One page of `items` and the page count (0 when there is nothing to page through)."""
    start = (page - 1) * limit
    return items[start : start + limit], math.ceil(len(items) / limit)


def sse_frame(event: str, data: Mapping[str, Any]) -> bytes:
    """One Server-Sent Event: the event name and its JSON payload (which repeats the name as `type`)."""
    payload = json.dumps({"type": event, **data}, separators=(",", ":"))
    return f"event: {event}\ndata: {payload}\n\n".encode()


def sse_response(frames: AsyncIterator[bytes]) -> StreamingResponse:
    return StreamingResponse(
        frames,
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
