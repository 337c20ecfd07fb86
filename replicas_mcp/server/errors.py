"""Every client failure becomes a `ToolError` that says what happened and what to do next.

Only `ToolError` text reaches the model (any other exception is reduced by the SDK to the bare
"Error executing tool <name>"), so the registry's guard turns every client error into `tool_error(...)`,
and resource reads run inside `resource_errors()`. Messages carry the API's own words (cleaned and
shortened) and the next step; the client already redacts keys from its messages, and `redact` here removes
the configured key again in case an upstream message echoed it.

The API quotes rejected values back ("got 'mcp.example.com/mcp?token=…'"), so its words are masked as
results are, before they are shortened (a cut secret would no longer be found): first the values of this
call's arguments that are secret by name or kind (a variable's value, a file's content, MCP env and header
values, secret shapes in args and URLs, anything under a secret-looking name) are replaced, then every
secret shape `masking.mask_text` knows. Logs see only this text (the SDK logs a failed tool's message).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError, ToolError

from replicas_mcp.client import errors as e
from replicas_mcp.server.safety import (
    MASK,
    SECRET_NAME,
    clean_text,
    mask_args,
    mask_text,
    mask_url,
    redact,
    truncate,
)

_DETAIL_LIMIT = 300

# Which tool finds a valid id for each argument name, most specific first (the first present is named).
_ID_HINTS = (
    ("filename", "list_canvas_items"),
    ("message_id", "get_chat_queue"),
    ("automation_id", "list_automations"),
    ("environment_id", "list_environments"),
    ("chat_id", "list_chats"),
    ("replica_id", "list_replicas"),
)

# Which tool reads the current state of what an argument names, most specific first.
_STATE_HINTS = (
    ("message_id", "get_chat_queue"),
    ("chat_id", "list_chats"),
    ("automation_id", "get_automation"),
    ("environment_id", "get_environment"),
    ("replica_id", "get_replica"),
)


def _state_tool(arguments: Mapping[str, Any]) -> str:
    """The tool that shows the current state of what this call was about."""
    return next((tool for arg, tool in _STATE_HINTS if arguments.get(arg)), "list_replicas")


# REST requests an upstream message may name, and the tool that does the same for a model.
_METHOD = r"(?:GET|POST|PUT|PATCH|DELETE)"
_REST_TOOLS = (
    (re.compile(rf"{_METHOD} /v1/environments(?=[\s),.;:]|$)"), "list_environments"),
    (re.compile(rf"{_METHOD} /v1/replica/repositories\b"), "list_repositories"),
    (re.compile(rf"{_METHOD} /v1/replica/repository-sets\b"), "list_repository_sets"),
    (re.compile(rf"{_METHOD} /v1/automations/[^\s/]+(?=[\s),.;:]|$)"), "save_automation"),
    (re.compile(rf"{_METHOD} /v1/replica/[^\s/]+/wake\b"), "get_replica with wake=true"),
)
_REQUEST_PREFIX = re.compile(rf"^{_METHOD} /\S*(?: -> \d{{3}})?:?\s*")
_ANY_REQUEST = re.compile(rf"\b{_METHOD} /v1/\S*|/v1/[\w/{{}}.-]+")


def without_rest_paths(text: str) -> str:
    """Upstream text names REST requests ("GET /v1/environments"); a model calls tools instead."""
    text = _REQUEST_PREFIX.sub("", text)
    for pattern, tool in _REST_TOOLS:
        text = pattern.sub(tool, text)
    return _ANY_REQUEST.sub("the matching tool", text)


# Arguments secret by kind whatever their name: a variable's value or a file's (or script's) content.
_SECRET_ARGUMENTS = frozenset({"value", "content"})
# Maps whose every value is secret (an MCP config's env and headers), as `mask_mcp_config` shows them.
_SECRET_MAPS = frozenset({"env", "headers"})
_SHORTEST_HIDDEN = 4  # a shorter "secret" would mask ordinary words of the message


def _hidden_values(arguments: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(value, how it may be shown) for each string of the call's arguments that must not be echoed."""
    found: dict[str, str] = {}

    def walk(value: Any, key: str, secret: bool) -> None:
        if isinstance(value, Mapping):
            for name, item in value.items():
                name = str(name)
                walk(item, name, secret or name in _SECRET_MAPS or bool(SECRET_NAME.search(name)))
        elif key == "args" and isinstance(value, list) and not secret:
            items = [str(item) for item in value]
            found.update((item, shown) for item, shown in zip(items, mask_args(items), strict=True))
        elif isinstance(value, list):
            for item in value:
                walk(item, key, secret)
        elif isinstance(value, str):
            found[value] = MASK if secret else _masked_url(value) if key == "url" else mask_text(value)

    for name, value in arguments.items():
        if isinstance(value, str | Mapping | list):
            walk(value, name, name in _SECRET_ARGUMENTS or bool(SECRET_NAME.search(name)))
    pairs = [(v, s) for v, s in found.items() if v != s and len(v) >= _SHORTEST_HIDDEN]
    return sorted(pairs, key=lambda pair: len(pair[0]), reverse=True)  # longest first: overlaps hide fully


def _masked_url(url: str) -> str:
    """A URL's secrets masked, also without a scheme (the API quotes such a URL back when it rejects it)."""
    return mask_url(url) if "://" in url else mask_url(f"x://{url}").removeprefix("x://")


def shown_upstream(text: str, arguments: Mapping[str, Any] | None = None) -> str:
    """Upstream text as a model may see it: the call's secret argument values and every secret shape
    masked (see the module docstring)."""
    for value, shown in _hidden_values(arguments or {}):
        text = text.replace(value, shown)
    return mask_text(text)


# The API's "or use 'global'" after an unknown environment: Global has no repository, no fallback for a task.
_GLOBAL_ADVICE = re.compile(r",? or use 'global' for the Global environment", re.IGNORECASE)


def _upstream(exc: e.ReplicasError, arguments: Mapping[str, Any] | None = None) -> str:
    """The API's own explanation: its `error` and `details`, cleaned, masked, deduplicated and shortened."""
    parts: list[str] = []
    for part in (exc.error, exc.details if isinstance(exc.details, str) else None, exc.message):
        shown = shown_upstream(clean_text(str(part)), arguments) if part else ""
        text = _GLOBAL_ADVICE.sub("", without_rest_paths(shown)).strip().rstrip(".")
        if text and not any(text in seen or seen in text for seen in parts):
            # Without its closing period: the part is embedded in a sentence that goes on.
            parts.append(text)
    text = "; ".join(p for p in parts if p)
    return truncate(text, _DETAIL_LIMIT) if text else "no details"


# 400s about what the call acts on or the key it carries, not about its arguments ("This automation cannot be
# triggered manually", "Automation is disabled", "Personal automations need a personal API key"): no fix of
# the arguments helps, so the message does not ask for one.
_NOT_THE_ARGUMENTS = re.compile(
    r"\b(?:cannot|can't) be (?:triggered|edited|changed|deleted)\b|\bis disabled\b|\binherits\b"
    r"|\bneeds? a personal API key\b",
    re.IGNORECASE,
)


def _request_id(exc: e.ReplicasError) -> str:
    return f" (request id {exc.request_id})" if exc.request_id else ""


# The tool that lists valid ids for what the API says it did not find ("Replica not found").
_KIND_HINTS = {
    "replica": "list_replicas",
    "chat": "list_chats",
    "environment": "list_environments",
    "automation": "list_automations",
    "message": "get_chat_queue",
}
_SHORT_NOT_FOUND = re.compile(r"(?:the )?(\w+(?: \w+)?) not found", re.IGNORECASE)  # "Canvas item not found"


def _not_found_words(exc: e.ReplicasError, arguments: Mapping[str, Any]) -> tuple[str, str | None]:
    """The API's words for a 404 said once, and the kind of thing it did not find. "Replica not found" is
    dropped when its details say the same at length ("No replica with id ... in this organization")."""
    said = _upstream(exc, arguments)
    short = _SHORT_NOT_FOUND.fullmatch(clean_text(exc.error or "").strip().rstrip("."))
    kind = short.group(1).lower() if short else None
    parts = said.split("; ")
    if short and len(parts) > 1 and parts[0].lower() == short.group(0).lower():
        said = "; ".join(parts[1:])
    return said, kind


def _not_found_hint(arguments: Mapping[str, Any], said: str, kind: str | None = None) -> str:
    tool = _KIND_HINTS.get(kind or "") or next(
        (tool for arg, tool in _ID_HINTS if arguments.get(arg)), "list_replicas"
    )
    if re.search(rf"\b{tool}\b", said):
        return ""  # the API's own words already name it (translated from its REST path): said once
    return f" Check the id: call {tool} to see the valid ones."


def _without_values(text: str, arguments: Mapping[str, Any]) -> str:
    """The API's words without the values the call sent: a not-found id may be a secret passed by mistake."""
    for name, value in arguments.items():
        if (
            (name.endswith("_id") or name in ("item", "filename"))
            and isinstance(value, str)
            and len(value) >= 4
        ):
            text = re.sub(rf"\bid ['\"]{re.escape(value)}['\"]", "that id", text)
            text = text.replace(value, "(the id given)")
    return text


def sleeping_message(replica_id: str | None, *, offer_wake: bool) -> str:
    target = f"Replica {replica_id}" if replica_id else "The replica"
    # Each sentence stands alone: a narrow selection drops those naming tools it does not serve.
    retry = " To wake it from here, retry this call with wake=true." if offer_wake else ""
    return (
        f"{target} is sleeping, and reads never wake it. get_replica_result shows its status and PRs (its "
        "final message needs it awake). To reach its agent, call get_replica with wake=true (10-60 s, "
        f"billed) and retry once it is active (wait_for_replica with until=idle waits for that).{retry}"
    )


def terminal_message(replica_id: str | None, what: str = "the workspace died") -> str:
    target = f"Replica {replica_id}" if replica_id else "The replica"
    return (
        f"{target} is in its terminal error state ({what}): it cannot be woken or messaged. "
        "get_replica_result shows what it did. To retry the work, call delegate_task with a new name "
        "(delete_replica removes this one)."
    )


def replica_not_found_message(replica_id: str | None = None) -> str:
    """Not found. The id is not repeated: a model may have been steered into passing a secret as one."""
    del replica_id
    return "No replica with that replica_id in this organization. Call list_replicas to see the valid ids."


def describe(exc: e.ReplicasError, arguments: Mapping[str, Any] | None = None) -> str:
    """The model-facing message for a client error, given the arguments of the call that failed."""
    args = arguments or {}
    replica = args.get("replica_id")
    what = _upstream(exc, args)
    rid = _request_id(exc)
    match exc:
        case e.WorkspaceSleepingError():
            return sleeping_message(replica, offer_wake="wake" in args)
        case e.WorkspaceErrorStateError():
            return terminal_message(replica, what)
        case e.ConflictError():
            return (
                f"Conflict with the resource's current state: {what}{rid}. Read its current state with "
                f"{_state_tool(args)}, then retry."
            )
        case e.RateLimitedError():
            if exc.retry_after is not None:
                return f"Rate limited by the Replicas API: retry after {exc.retry_after:.0f} s{rid}."
            return f"Rate limited by the Replicas API: wait about 30 s and retry{rid}."
        case e.NotFoundError():
            words, kind = _not_found_words(exc, args)
            said = _without_values(words, args)
            if said.startswith("No "):  # "Not found: no replica with that id": the API's words, once
                said = "n" + said[1:]
            return f"Not found: {said}{rid}.{_not_found_hint(args, said, kind)}"
        case e.AuthenticationError():
            return (
                "The Replicas API rejected the API key (401). Check REPLICAS_API_KEY in this MCP server's "
                "environment (org keys: Replicas Settings > API Keys, for admins; personal keys: Account > "
                "API Keys) and restart the server."
            )
        case e.PermissionDeniedError():
            return (
                f"Permission denied (403): {what}{rid}. This API key may not access that resource "
                "(org keys cannot manage personal automations; personal keys only their own)."
            )
        case e.BadRequestError() if _NOT_THE_ARGUMENTS.search(what):
            return f"The API refused the call (400): {what}{rid}."
        case e.BadRequestError():
            return f"The API rejected the arguments (400): {what}{rid}. Fix them and retry."
        case e.PayloadTooLargeError():
            return f"Too large for the API (413): {what}. Send less (environment files are limited to 64 KB)."
        case e.ServerError():
            return (
                f"The Replicas API failed ({exc.status}): {what}{rid}. A read can be retried in a few "
                "seconds. A change may have happened before the failure (a message delivered, a run "
                "started): check before sending it again. If it keeps failing, check the replica with "
                "get_replica."
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
                f"check with {_state_tool(args)} before retrying a change."
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


BYO_KEY_REJECTED = (
    "The Replicas API rejected the API key this request carries as its bearer token (401): it may have "
    "been revoked or expired. Configure this MCP client with a valid key (org keys: Replicas Settings > API "
    "Keys, for admins; personal keys: Account > API Keys) and reconnect."
)


def _byo_key(arguments: Mapping[str, Any] | None) -> bool:
    """Whether the call ran in `--auth byo-key` mode (the key is the caller's, not the server's)."""
    from replicas_mcp.server.state import context_in  # state builds on the client only; imported late

    ctx = context_in(arguments or {})
    try:
        settings = ctx.request_context.lifespan_context.settings if ctx is not None else None
    except (AttributeError, ValueError):  # no request context
        return False
    return getattr(settings, "auth", None) == "byo-key"


def _callers_own_key() -> bool:
    """The request carries the caller's own key (byo-key: there is an access token; other modes have none)."""
    from replicas_mcp.server.caller import SERVER_CALLER, current_caller

    return current_caller() != SERVER_CALLER


def tool_error(
    exc: e.ReplicasError, arguments: Mapping[str, Any] | None = None, *, secrets: Iterable[str | None] = ()
) -> ToolError:
    """The model-facing error; its next steps name only tools the server serves (the request's Context
    among `arguments` says which; without one, nothing is left out). In byo-key mode a 401 is about the
    caller's own key."""
    from replicas_mcp.server.hints import served_in  # hints builds on this module

    if isinstance(exc, e.AuthenticationError) and _byo_key(arguments):
        return ToolError(BYO_KEY_REJECTED)
    return ToolError(redact(served_in(arguments).adapt(describe(exc, arguments)), secrets))


@contextmanager
def resource_errors(
    uri: str,
    *,
    secrets: Iterable[str | None] = (),
    adapt: Callable[[str], str] = str,
    arguments: Mapping[str, Any] | None = None,
) -> Iterator[None]:
    """Resource reads have no error results: not-found becomes -32602, anything else a ResourceError.
    `adapt` fits the next steps to the tools the server serves (hints.py); `arguments` are the URI's
    parts, named as the tools name them, so a hint points at what lists the missing thing."""
    try:
        yield
    except ResourceNotFoundError as exc:
        raise ResourceNotFoundError(redact(adapt(str(exc)), secrets)) from None
    except ResourceError as exc:
        raise ResourceError(redact(adapt(str(exc)), secrets)) from None
    except e.NotFoundError as exc:
        raise ResourceNotFoundError(redact(adapt(f"{uri}: {describe(exc, arguments)}"), secrets)) from None
    except e.AuthenticationError as exc:
        if _callers_own_key():
            raise ResourceError(f"{uri}: {BYO_KEY_REJECTED}") from None
        raise ResourceError(redact(adapt(f"{uri}: {describe(exc, arguments)}"), secrets)) from None
    except e.ReplicasError as exc:
        raise ResourceError(redact(adapt(f"{uri}: {describe(exc, arguments)}"), secrets)) from None
