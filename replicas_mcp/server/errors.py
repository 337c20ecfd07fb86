"""Every client failure becomes a `ToolError` that says what happened and what to do next.

Only `ToolError` text reaches the model (any other exception is reduced by the SDK to the bare
"Error executing tool <name>"), so the registry's guard turns every client error into `tool_error(...)`,
and resource reads run inside `resource_errors()`. Messages carry the API's own words (cleaned and
shortened) and the next step; the client already redacts keys from its messages, and `redact` here removes
the configured key again in case an upstream message echoed it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError

from replicas_mcp.client import errors as e
from replicas_mcp.server.safety import clean_text, redact, truncate

_DETAIL_LIMIT = 300

# Which listing tool finds a valid id for each argument name, in the order they are suggested.
_ID_HINTS = (
    ("automation_id", "list_automations"),
    ("environment_id", "list_environments"),
    ("chat_id", "list_chats"),
    ("replica_id", "list_replicas"),
)


def _upstream(exc: e.ReplicasError) -> str:
    """The API's own explanation: its `error` and `details`, cleaned, deduplicated and shortened."""
    parts: list[str] = []
    for part in (exc.error, exc.details if isinstance(exc.details, str) else None, exc.message):
        if part and not any(part in seen or seen in part for seen in parts):
            # Without its closing period: the part is embedded in a sentence that goes on.
            parts.append(clean_text(str(part)).strip().rstrip("."))
    text = "; ".join(p for p in parts if p)
    return truncate(text, _DETAIL_LIMIT) if text else "no details"


def _request_id(exc: e.ReplicasError) -> str:
    return f" (request id {exc.request_id})" if exc.request_id else ""


def _not_found_hint(arguments: Mapping[str, Any]) -> str:
    tools = [tool for arg, tool in _ID_HINTS if arguments.get(arg)]
    if not tools:
        return "Check the id with list_replicas (or the matching list_* tool)."
    return "Check the id: call " + " / ".join(tools) + " to see the valid ones."


def sleeping_message(replica_id: str | None, *, offer_wake: bool) -> str:
    target = f"Replica {replica_id}" if replica_id else "The replica"
    retry = "Or retry this call with wake=true." if offer_wake else ""
    return (
        f"{target} is sleeping, so its agent cannot be reached without waking it. Call get_replica with "
        "wake=true and retry once it is active (waking takes about 10-60 s; wait_for_replica with "
        f"until=idle waits for it). {retry}"
    ).strip()


def terminal_message(replica_id: str | None, what: str = "the workspace died") -> str:
    target = f"Replica {replica_id}" if replica_id else "The replica"
    return (
        f"{target} is in its terminal error state ({what}): it cannot be woken or messaged. "
        "Delete it with delete_replica and create a new one with create_replica."
    )


def replica_not_found_message(replica_id: str) -> str:
    return f"Replica {replica_id} not found in this organization. Call list_replicas to see the valid ids."


def describe(exc: e.ReplicasError, arguments: Mapping[str, Any] | None = None) -> str:
    """The model-facing message for a client error, given the arguments of the call that failed."""
    args = arguments or {}
    replica = args.get("replica_id")
    what = _upstream(exc)
    rid = _request_id(exc)
    match exc:
        case e.WorkspaceSleepingError():
            return sleeping_message(replica, offer_wake="wake" in args)
        case e.WorkspaceErrorStateError():
            return terminal_message(replica, what)
        case e.ConflictError():
            return f"Conflict with the resource's current state: {what}{rid}. Check its state and retry."
        case e.RateLimitedError():
            if exc.retry_after is not None:
                return f"Rate limited by the Replicas API: retry after {exc.retry_after:.0f} s{rid}."
            return f"Rate limited by the Replicas API: wait about 30 s and retry{rid}."
        case e.NotFoundError():
            return f"Not found: {what}{rid}. {_not_found_hint(args)}"
        case e.AuthenticationError():
            return (
                "The Replicas API rejected the API key (401). Check REPLICAS_API_KEY in this MCP server's "
                "environment (an org or personal key from Replicas Settings > API Keys) and restart the "
                "server."
            )
        case e.PermissionDeniedError():
            return (
                f"Permission denied (403): {what}{rid}. This API key may not access that resource "
                "(org keys cannot manage personal automations; personal keys only their own)."
            )
        case e.BadRequestError():
            return f"The API rejected the arguments (400): {what}{rid}. Fix them and retry."
        case e.PayloadTooLargeError():
            return f"Too large for the API (413): {what}. Send less (environment files are limited to 64 KB)."
        case e.ServerError():
            return (
                f"The Replicas API failed ({exc.status}): {what}{rid}. Retry in a few seconds; if it keeps "
                "failing, check the replica with get_replica."
            )
        case e.APIStatusError():
            return f"The Replicas API answered {exc.status}: {what}{rid}."
        case e.CreateOutcomeUnknownError():
            return (
                f"The create request for {exc.name!r} may or may not have happened, and no replica with that "
                "name exists yet. Call list_replicas in a minute before retrying, to avoid a duplicate."
            )
        case e.RequestTimeoutError():
            return (
                f"The Replicas API did not answer in time: {what}. The request may still have taken effect: "
                "check with the matching list_/get_ tool before retrying a change."
            )
        case e.ConnectError():
            return f"Could not reach the Replicas API: {what}. Check the network and REPLICAS_BASE_URL."
        case e.StreamError():
            return f"The replica's event stream could not be re-established: {what}. Retry later."
        case e.InvalidIdentifierError():
            return f"Invalid id: {what}. Pass an id returned by a list_* tool."
        case e.ConfigurationError():
            return f"The server is misconfigured: {what}. Check REPLICAS_API_KEY and REPLICAS_BASE_URL."
        case _:
            return f"Replicas API error: {what}{rid}."


def tool_error(
    exc: e.ReplicasError, arguments: Mapping[str, Any] | None = None, *, secrets: Iterable[str | None] = ()
) -> ToolError:
    return ToolError(redact(describe(exc, arguments), secrets))


@contextmanager
def resource_errors(uri: str, *, secrets: Iterable[str | None] = ()) -> Iterator[None]:
    """Resource reads have no error results: not-found becomes -32602, anything else a ResourceError."""
    try:
        yield
    except e.NotFoundError as exc:
        raise ResourceNotFoundError(redact(f"{uri}: {describe(exc)}", secrets)) from None
    except e.ReplicasError as exc:
        raise ResourceError(redact(f"{uri}: {describe(exc)}", secrets)) from None
