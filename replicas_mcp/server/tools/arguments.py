"""Tool arguments checked before anything goes upstream: strict, bounded, and free of path tricks.

The SDK validates arguments against each tool's schema but ignores unknown fields and knows nothing about
what an id may look like. `strict_arguments_model` tightens a tool's argument model (`sdk.py` installs it)
so that, before the tool body runs (and so with zero upstream requests), a call is rejected with a message
the model can act on when it:

- passes an argument the tool does not take (a typo would otherwise be silently dropped), or a value whose
  JSON type the published schema does not allow (a tool's own validator may be more lenient);
- passes an id (an argument typed `Id`, see `server/args.py`, or each item of a list of them) that is not
  a plain identifier: `../x`, `%2e%2e`, `a/b`, `a?b`, `a#b`, whitespace or control characters could change
  which URL the client requests, however it encodes them;
- passes a canvas `filename` with a path separator, `..`, `?`, `#`, `%` or control characters;
- passes a `name` or `title` with leading/trailing whitespace or line breaks;
- passes a file or script `content` (or a `value`) over 64 KB of UTF-8 (the API's limit; 65,536
  characters of non-ASCII text are well over it);
- passes a string longer than `MAX_STRING_CHARS` anywhere (also inside objects), or arguments whose JSON is
  larger than `MAX_ARGUMENTS_BYTES`;
- passes `images` whose data is not valid base64 of a PNG, JPEG, GIF or WebP image.

Formats the client already checks locally (cron expressions) are left to it: it raises before sending, and
the tool wrapper turns that into a `ToolError`. (It checks file sizes too, but only after a tool has
listed the environment's files, which is an upstream request.)
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import typing
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, cast

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

MAX_STRING_CHARS = 100_000
MAX_ARGUMENTS_BYTES = 1_000_000
MAX_ID_CHARS = 128
MAX_CONTENT_BYTES = 65_536  # environment files and hook scripts
ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]*")
# The contract's ids (replicas, environments) are `format: uuid`: anything else a model passes may be a name.
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_FILENAME_FORBIDDEN = re.compile(r"[/\\?#%\x00-\x1f\x7f]")
_LINE_BREAKS = re.compile(r"[\r\n\t\x00-\x1f\x7f\u2028\u2029]")
_IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a", b"RIFF")


class ArgumentError(ValueError):
    """One argument that cannot be sent; its message names the argument and what to do instead."""


@dataclass(frozen=True)
class IdShape:
    """Marks a string argument as an id of the API: checked for shape before anything goes upstream, and
    kept as text (never JSON-parsed). Changes no schema."""


# An id argument: `replica_id: Id`, `Annotated[Id | None, Field(...)]`, `list[Id]`.
Id = Annotated[str, IdShape()]


@dataclass(frozen=True)
class Resolved:
    """Marks an id argument that may be given as something else (a name): before the call, the tool wrapper
    replaces it with `resolve(client, value)` (which raises `ToolError` when it names nothing); when the
    call then fails upstream as not found or a bad request, `missing(client, value)` gives the message to
    show instead, or None when the failure was about something else. Changes no schema."""

    resolve: Callable[[Any, str], Awaitable[str]]
    missing: Callable[[Any, str], Awaitable[str | None]]


def resolved_arguments(fn: Callable[..., Any]) -> tuple[tuple[str, Resolved], ...]:
    """The parameters of a tool function marked `Resolved` (optional or not), with their marker."""
    hints = typing.get_type_hints(fn, include_extras=True)
    found = ((name, _resolver(hint)) for name, hint in hints.items() if name != "return")
    return tuple((name, marker) for name, marker in found if marker is not None)


def _resolver(annotation: Any) -> Resolved | None:
    if typing.get_origin(annotation) is Annotated:
        base, *metadata = typing.get_args(annotation)
        return next((m for m in metadata if isinstance(m, Resolved)), None) or _resolver(base)
    return next((r for arg in typing.get_args(annotation) if (r := _resolver(arg)) is not None), None)


def _mentions_id(annotation: Any) -> bool:
    if typing.get_origin(annotation) is Annotated:
        base, *metadata = typing.get_args(annotation)
        return any(isinstance(m, IdShape) for m in metadata) or _mentions_id(base)
    return any(_mentions_id(arg) for arg in typing.get_args(annotation))


def id_arguments(fn: Callable[..., Any]) -> frozenset[str]:
    """The parameters of a tool function typed as ids (`Id`, optional or in a list)."""
    hints = typing.get_type_hints(fn, include_extras=True)
    return frozenset(name for name, hint in hints.items() if name != "return" and _mentions_id(hint))


def is_uuid(value: str) -> bool:
    """Whether the value has the shape of the contract's ids (a UUID)."""
    return _UUID.fullmatch(value) is not None


def check_id(name: str, value: str) -> None:
    if not value:
        raise ArgumentError(f"{name} is empty: pass an id returned by a list_* tool.")
    if len(value) > MAX_ID_CHARS:
        raise ArgumentError(f"{name} is {len(value)} characters long; ids are at most {MAX_ID_CHARS}.")
    if not ID_PATTERN.fullmatch(value) or ".." in value:
        raise ArgumentError(
            f"{name} is not an id: ids are letters, digits and '_', '-', '.', ':' only "
            "(no '/', '..', '%', '?', '#' or spaces). Pass an id exactly as a list_* tool returned it."
        )


def check_filename(name: str, value: str) -> None:
    if value in ("", ".", "..") or _FILENAME_FORBIDDEN.search(value) or value.startswith(".."):
        raise ArgumentError(
            f"{name} is not a canvas file name: no '/', '\\', '..', '%', '?', '#' or control "
            "characters. Pass a filename exactly as the replica's canvas listing shows it."
        )


def check_label(name: str, value: str) -> None:
    if value != value.strip() or _LINE_BREAKS.search(value):
        raise ArgumentError(
            f"{name} has leading/trailing whitespace or a line break: pass it on one line "
            "without surrounding spaces."
        )


def check_content(name: str, value: str) -> None:
    size = len(value.encode("utf-8", errors="surrogatepass"))
    if size > MAX_CONTENT_BYTES:
        raise ArgumentError(
            f"{name} is {size} bytes of UTF-8; the limit is {MAX_CONTENT_BYTES} bytes (64 KB). Shorten it."
        )


def check_image(name: str, image: Any) -> None:
    """An image is `{"data"|"base64": <base64>, ...}` or a bare base64 string; the bytes must be an image."""
    data = image.get("data", image.get("base64")) if isinstance(image, Mapping) else image
    if not isinstance(data, str):
        raise ArgumentError(f"{name}: each image needs its bytes as a base64 string in 'data'.")
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise ArgumentError(
            f"{name}: an image's data is not valid base64 (A-Z, a-z, 0-9, +, /, =)."
        ) from None
    if not raw.startswith(_IMAGE_MAGIC):
        raise ArgumentError(f"{name}: an image's data decodes, but not to a PNG, JPEG, GIF or WebP image.")


def _check_strings(name: str, value: Any) -> None:
    """Every string anywhere in the value is at most MAX_STRING_CHARS long."""
    if isinstance(value, str):
        if len(value) > MAX_STRING_CHARS:
            raise ArgumentError(
                f"{name} is {len(value)} characters long; the limit is {MAX_STRING_CHARS}. Send less, or "
                "split it into several calls."
            )
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _check_strings(f"{name}.{key}", item)
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check_strings(f"{name}[{index}]", item)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list | tuple) else "object"


def _declared_types(schema: Mapping[str, Any]) -> set[str] | None:
    """The JSON types a property's schema allows, or None when the schema does not say (refs, enums)."""
    kind = schema.get("type")
    if isinstance(kind, str):
        return {kind}
    if isinstance(kind, list):
        return {str(k) for k in kind}
    branches = schema.get("anyOf")
    if isinstance(branches, list) and branches:
        kinds = [_declared_types(b) if isinstance(b, Mapping) else None for b in branches]
        if all(k is not None for k in kinds):
            return set().union(*(k for k in kinds if k is not None))
    return None


def _parsed(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def check_type(name: str, value: Any, schema: Mapping[str, Any], *, required: bool) -> None:
    """The value has a JSON type the published schema allows (tools' own validators may be more lenient).

    A null for an optional argument means "omitted". A string for a non-string argument is accepted only if
    it is JSON of an allowed type (the SDK parses it first); "T" or "yes" for a boolean is not.
    """
    declared = _declared_types(schema)
    actual = _json_type(value)
    if declared is None or actual in declared or (actual == "null" and not required):
        return
    if actual == "integer" and "number" in declared:
        return
    if actual == "string" and _json_type(_parsed(value)) in declared:
        return  # the SDK parses a JSON string into its value before validating ("5", "true", "[1]")
    raise ArgumentError(f"{name} must be of type {' or '.join(sorted(declared))}, not {actual}.")


def check_arguments(
    tool: str,
    known: frozenset[str],
    arguments: Mapping[str, Any],
    properties: Mapping[str, Any] | None = None,
    required: frozenset[str] = frozenset(),
    ids: frozenset[str] = frozenset(),
) -> None:
    """Raise `ArgumentError` for the first argument that must not be sent (see the module docstring)."""
    unknown = sorted(set(arguments) - known)
    if unknown:
        takes = ", ".join(sorted(known)) or "no arguments"
        raise ArgumentError(f"{tool} has no argument(s) {', '.join(unknown)}; it takes: {takes}.")
    for name, value in arguments.items():
        schema = (properties or {}).get(name)
        if isinstance(schema, Mapping):
            check_type(name, value, schema, required=name in required)
    size = len(json.dumps(arguments, default=str).encode())
    if size > MAX_ARGUMENTS_BYTES:
        raise ArgumentError(f"the arguments are {size} bytes of JSON; the limit is {MAX_ARGUMENTS_BYTES}.")
    _check_fields(arguments, prefix="", ids=ids)


def _check_fields(arguments: Mapping[str, Any], *, prefix: str, ids: frozenset[str]) -> None:
    """The per-field checks, also inside lists of objects (e.g. `tasks[0].name`)."""
    for key, value in arguments.items():
        name = f"{prefix}{key}"
        if not prefix:
            _check_strings(name, value)
        if isinstance(value, str):
            if key in ("content", "value") and len(value) * 4 > MAX_CONTENT_BYTES:  # cheap check, then exact
                check_content(name, value)
            if key in ids:
                check_id(name, value)
            elif key == "filename":
                check_filename(name, value)
            elif key in ("name", "title"):
                check_label(name, value)
        elif key == "images" and isinstance(value, list):
            for image in value:
                check_image(name, image)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                # A list of ids (wait_for_replica joins several replicas).
                if key in ids and isinstance(item, str):
                    check_id(f"{name}[{index}]", item)
                elif isinstance(item, Mapping) and key != "triggers":
                    _check_fields(item, prefix=f"{name}[{index}].", ids=frozenset())


def strict_arguments_model(
    tool_name: str,
    base: type[BaseModel],
    parameters: Mapping[str, Any] | None = None,
    ids: frozenset[str] = frozenset(),
) -> type[BaseModel]:
    """A subclass of the SDK's argument model that forbids unknown fields and runs `check_arguments` first
    (with the published input schema `parameters`, for the JSON types, and the id arguments `ids`)."""
    known = frozenset(field.alias or name for name, field in base.model_fields.items())
    properties = dict((parameters or {}).get("properties") or {})
    required = frozenset((parameters or {}).get("required") or ())

    def _checked(data: Any) -> Any:
        if isinstance(data, Mapping):
            check_arguments(tool_name, known, data, properties, required, ids)
        return data

    def _validate(cls: type[BaseModel], /, obj: Any, **options: Any) -> BaseModel:
        try:
            return base.model_validate.__func__(cls, obj, **options)  # type: ignore[attr-defined,no-any-return]
        except ValidationError as exc:
            raise readable_validation_error(tool_name, exc) from None

    namespace: dict[str, Any] = {
        "model_config": ConfigDict(**{**base.model_config, "extra": "forbid"}),
        "_hardening_checks": model_validator(mode="before")(staticmethod(_checked)),
        "model_validate": classmethod(_validate),
        "__module__": base.__module__,
    }
    return cast("type[BaseModel]", type(base.__name__, (base,), namespace))


def _explain(error: Mapping[str, Any]) -> str:
    """One validation error as a sentence saying what to do, without the value (the argument's name is
    printed on the line above it)."""
    kind = str(error.get("type", ""))
    message = str(error.get("msg", "invalid value"))
    if kind == "value_error":  # our own checks (ArgumentError): already a full sentence naming the argument
        return message.removeprefix("Value error, ")
    if kind == "missing":
        return "This argument is required."
    if kind == "string_pattern_mismatch" and (error.get("ctx") or {}).get("pattern") == r"^\S+$":
        return "Must not contain whitespace: use dashes instead (e.g. fix-login-bug)."
    return message if message.endswith(".") else f"{message}."


def readable_validation_error(tool_name: str, exc: ValidationError) -> ValidationError:
    """The SDK shows a ValidationError's text to the model: rebuild it with plain sentences and without the
    values the caller sent (a rejected value may be a secret, e.g. an oversized variable) or docs links."""
    details = [
        InitErrorDetails(
            type=PydanticCustomError("invalid_argument", "{message}", {"message": _explain(error)}),
            loc=tuple(error.get("loc") or ()),
            input=None,
        )
        for error in exc.errors(include_url=False, include_input=False)
    ]
    return ValidationError.from_exception_data(f"{tool_name} arguments", details, hide_input=True)


def text_arguments(ids: frozenset[str]) -> frozenset[str]:
    """Arguments that stay exactly as sent: the SDK JSON-parses every string argument whose annotation is not
    exactly `str` (to undo clients that send `["a"]` as a string), which for an optional text field turns the
    name "null" into None and hides "null " from the whitespace check, and turns a file's JSON content or a
    prompt that looks like a list into an object the tool refuses. Names, titles, filenames, ids, values,
    prompts and descriptions are text. (`task` is not: a list sent as a string is still a fan-out.)"""
    return ids | {"name", "title", "filename", "value", "prompt", "description", "system_prompt"}
