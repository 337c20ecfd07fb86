"""What `tools/list` publishes, shaped for a model that reads all of it: pure functions on JSON schemas.

The SDK derives each tool's input schema from its signature and its output schema from its return type;
`shaped_input_schema` and `shaped_output_schema` return smaller schemas of the same meaning (the argument
model still validates every call). Neither changes its input.
"""

from __future__ import annotations

import copy
from typing import Any


def shaped_input_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The published input schema: compact, single-use definitions inlined."""
    return inline_single_use_defs(compact_schema(copy.deepcopy(schema)))


def shaped_output_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The published output schema: compact (no defaults, descriptions or nulls), single-use definitions
    inlined, and nested objects thinned."""
    shaped = inline_single_use_defs(compact_schema(copy.deepcopy(schema), output=True))
    _thin_nested_output(shaped)
    return shaped


_NULL = {"type": "null"}


def _drop_null(schema: dict[str, Any]) -> None:
    """Make an optional property non-nullable: `type: [X, "null"]` → `X`; `anyOf: [A, null]` → `A`."""
    kinds = schema.get("type")
    if isinstance(kinds, list) and "null" in kinds:
        rest = [k for k in kinds if k != "null"]
        schema["type"] = rest[0] if len(rest) == 1 else rest
    branches = schema.get("anyOf")
    if isinstance(branches, list) and _NULL in branches:
        rest_branches = [b for b in branches if b != _NULL]
        del schema["anyOf"]
        if len(rest_branches) == 1:
            schema.update(rest_branches[0])
        else:
            schema["anyOf"] = rest_branches


def compact_schema(schema: Any, *, output: bool = False) -> Any:
    """Shrink a JSON schema in place (callers pass a copy), for a small `tools/list`.

    Everywhere: drops the `title` keywords pydantic adds (they repeat the property names) and turns
    `anyOf: [{type: X}, {type: null}]` into `type: [X, null]`; an optional property whose default is
    null loses the null (omitting it means the same). In output schemas also drops `default` and
    `description` (documented in the tool's description), and nulls: results never contain nulls,
    because the tool wrapper dumps them with `exclude_none`.
    """
    if isinstance(schema, list):
        for item in schema:
            compact_schema(item, output=output)
        return schema
    if not isinstance(schema, dict):
        return schema
    schema.pop("title", None)
    if output:
        schema.pop("default", None)
        schema.pop("description", None)
    else:
        _drop_noise_bounds(schema)
    if schema.get("additionalProperties") is True:
        del schema["additionalProperties"]  # the JSON Schema default
    for key in ("$defs", "patternProperties"):
        for sub in (schema.get(key) or {}).values():
            compact_schema(sub, output=output)
    required = set(schema.get("required") or ())
    for name, sub in (schema.get("properties") or {}).items():
        compact_schema(sub, output=output)
        if isinstance(sub, dict) and name not in required:
            if output or sub.get("default", 0) is None:
                sub.pop("default", None)
                _drop_null(sub)
            elif sub.get("default") is False and sub.get("type") == "boolean":
                del sub["default"]  # false is what an omitted flag means
    for key in ("items", "additionalProperties", "not", "prefixItems", "allOf", "oneOf", "anyOf"):
        if key in schema:
            compact_schema(schema[key], output=output)
    branches = schema.get("anyOf")
    if (
        isinstance(branches, list)
        and branches
        and all(isinstance(b, dict) and set(b) == {"type"} and isinstance(b["type"], str) for b in branches)
    ):
        del schema["anyOf"]
        schema["type"] = [b["type"] for b in branches]
    return schema


# Bounds the model gains nothing from reading: "not empty", "not negative", and abuse limits far above any
# real value. The argument model still enforces them (and the input guard bounds every string).
_NOISE_BOUND = 10_000


def _drop_noise_bounds(schema: dict[str, Any]) -> None:
    if schema.get("minLength") == 1:
        del schema["minLength"]
    if schema.get("minimum") == 0:
        del schema["minimum"]
    for key in ("maxLength", "maximum"):
        bound = schema.get(key)
        if isinstance(bound, int) and bound >= _NOISE_BOUND:
            del schema[key]


def inline_single_use_defs(schema: dict[str, Any]) -> dict[str, Any]:
    """Replace `$ref`s to `$defs` used exactly once by the definition itself (shorter, same meaning)."""
    defs = schema.get("$defs")
    if not isinstance(defs, dict):
        return schema
    prefix = "#/$defs/"
    uses: dict[str, int] = {}

    def count(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith(prefix):
                uses[ref[len(prefix) :]] = uses.get(ref[len(prefix) :], 0) + 1
            for value in node.values():
                count(value)
        elif isinstance(node, list):
            for value in node:
                count(value)

    count(schema)
    single = {name for name, n in uses.items() if n == 1 and name in defs}

    def inline(node: Any, seen: frozenset[str]) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            name = ref[len(prefix) :] if isinstance(ref, str) and ref.startswith(prefix) else None
            if name in single and name not in seen:
                body = {k: v for k, v in node.items() if k != "$ref"}
                return inline({**defs[name], **body}, seen | {name})
            return {k: inline(v, seen) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v, seen) for v in node]
        return node

    result = inline({k: v for k, v in schema.items() if k != "$defs"}, frozenset())
    remaining = {name: inline(body, frozenset({name})) for name, body in defs.items() if name not in single}
    if remaining:
        result["$defs"] = remaining
    schema.clear()
    schema.update(result)
    return schema


def _thin_nested_output(schema: Any, *, root: bool = True) -> None:
    """Below the root of an output schema, drop what costs context and tells the model nothing: `required`
    lists (the fields stay documented by `properties`), `type: object` on an object with `properties` and
    `type: array` on an array with `items` (both implied). Property names are never taken for keywords."""
    if isinstance(schema, list):
        for value in schema:
            _thin_nested_output(value, root=False)
        return
    if not isinstance(schema, dict):
        return
    if not root:
        schema.pop("required", None)
        if (schema.get("type") == "object" and "properties" in schema) or (
            schema.get("type") == "array" and "items" in schema
        ):
            del schema["type"]
    for key, value in schema.items():
        if key == "properties" and isinstance(value, dict):
            for sub in value.values():
                _thin_nested_output(sub, root=False)
        elif key not in ("required", "enum"):
            _thin_nested_output(value, root=False)
