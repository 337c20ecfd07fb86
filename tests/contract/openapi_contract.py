"""The vendor's OpenAPI document, read at test time, as a validator of recorded HTTP exchanges.

The document (`shared/docs/replicas-openapi.json`, beside the project checkout) is never copied into the
project: it is loaded when the tests run. Its schemas are JSON Schema 2020-12 (OpenAPI 3.1); `$ref`s are
resolved against the document itself. Objects are validated *closed*: a field the contract does not
name is a violation, since "the sandbox emits exactly the contract's fields" is what is being checked.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

DOCUMENT_URI = "urn:replicas:openapi"
_HTTP_METHODS = ("get", "post", "put", "patch", "delete")


def find_document(start: Path) -> Path | None:
    """`shared/docs/replicas-openapi.json` in an ancestor of `start` (checkouts live beside `shared/`)."""
    for folder in start.resolve().parents:
        candidate = folder / "shared" / "docs" / "replicas-openapi.json"
        if candidate.is_file():
            return candidate
    return None


@dataclass(frozen=True)
class Exchange:
    """One request and its answer, as recorded on the wire."""

    method: str
    path: str
    query: str
    request_body: bytes
    status: int
    content_type: str
    response_body: bytes

    def request_json(self) -> Any:
        return json.loads(self.request_body) if self.request_body else None

    def sse_events(self) -> Iterator[Any]:
        for block in self.response_body.decode().split("\n\n"):
            data = [line[5:].lstrip() for line in block.splitlines() if line.startswith("data:")]
            if data:
                yield json.loads("\n".join(data))


@dataclass(frozen=True)
class Violation:
    """A request or answer outside the contract. `kind` is request-body, query, path, status, response."""

    method: str
    template: str
    kind: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.method} {self.template} [{self.kind}] at {self.where or '/'}: {self.message}"


def _close(node: Any, schemas: Mapping[str, Any]) -> Any:
    """Copy of a schema tree where every object with `properties` forbids other properties.

    `allOf` of objects (used by the contract for extension, e.g. ReplicaDetails = ReplicaListItem + more)
    is flattened first, so that closing each part does not reject the other part's fields.
    """
    if isinstance(node, list):
        return [_close(item, schemas) for item in node]
    if not isinstance(node, dict):
        return node
    node = dict(node)
    if "allOf" in node and all(_is_object_part(part, schemas) for part in node["allOf"]):
        properties: dict[str, Any] = {}
        required: list[str] = []
        for part in node.pop("allOf"):
            resolved = _resolve_local(part, schemas)
            properties.update(resolved.get("properties", {}))
            required.extend(resolved.get("required", []))
        node.update(type="object", properties=properties, required=sorted(set(required)))
    closed = {
        key: (
            _close(value, schemas)
            if key not in ("example", "examples", "default", "const", "enum")
            else value
        )
        for key, value in node.items()
    }
    if isinstance(closed.get("properties"), dict) and "additionalProperties" not in closed:
        closed["additionalProperties"] = False
    return closed


def _resolve_local(part: Mapping[str, Any], schemas: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = part.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
        return _resolve_local(schemas[ref.rsplit("/", 1)[1]], schemas)
    return part


def _is_object_part(part: Any, schemas: Mapping[str, Any]) -> bool:
    return isinstance(part, dict) and "properties" in _resolve_local(part, schemas)


def _pointer(*parts: str) -> str:
    return "/".join(part.replace("~", "~0").replace("/", "~1") for part in parts)


@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    pattern: re.Pattern[str]
    literal_segments: int
    spec: Mapping[str, Any]

    def pointer(self, *parts: str) -> str:
        return "#/" + _pointer("paths", self.template, self.method.lower(), *parts)


@dataclass
class Contract:
    document: dict[str, Any]
    operations: list[Operation] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> Contract:
        raw = json.loads(path.read_text())
        closed = _close(copy.deepcopy(raw), raw["components"]["schemas"])
        contract = cls(document=closed)
        for template, item in raw["paths"].items():
            for method in _HTTP_METHODS:
                if method in item:
                    regex = re.sub(r"\\\{[^}]+\\\}", "([^/]+)", re.escape(template))
                    literal = sum(1 for part in template.split("/") if part and not part.startswith("{"))
                    contract.operations.append(
                        Operation(method.upper(), template, re.compile(f"^{regex}$"), literal, item[method])
                    )
        # A literal segment beats a template: /v1/replica/repositories is not /v1/replica/{id}.
        contract.operations.sort(key=lambda op: -op.literal_segments)
        return contract

    @cached_property
    def registry(self) -> Registry[Any]:
        resource: Resource[Any] = Resource.from_contents(self.document, default_specification=DRAFT202012)
        registry: Registry[Any] = Registry().with_resource(DOCUMENT_URI, resource)
        return registry

    def validator(self, pointer: str) -> Draft202012Validator:
        return Draft202012Validator(
            {"$ref": DOCUMENT_URI + pointer},
            registry=self.registry,
            format_checker=Draft202012Validator.FORMAT_CHECKER,
        )

    def schema_at(self, pointer: str) -> Any:
        node: Any = self.document
        for part in pointer.lstrip("#/").split("/"):
            key = part.replace("~1", "/").replace("~0", "~")
            node = node[int(key)] if isinstance(node, list) else node[key]
        return node

    def operation(self, method: str, path: str) -> Operation | None:
        for op in self.operations:
            if op.method == method and op.pattern.match(path):
                return op
        return None

    def check(self, exchange: Exchange) -> list[Violation]:
        op = self.operation(exchange.method, exchange.path)
        if op is None:
            return [
                Violation(exchange.method, exchange.path, "path", "", "no such operation in the contract")
            ]
        found: list[Violation] = []

        def errors(pointer: str, instance: Any, kind: str, prefix: str = "") -> None:
            for error in self.validator(pointer).iter_errors(instance):
                found.append(Violation(op.method, op.template, kind, prefix + _where(error), _message(error)))

        parameters = op.spec.get("parameters", [])
        match = op.pattern.match(exchange.path)
        assert match is not None
        names = re.findall(r"\{([^}]+)\}", op.template)
        for name, value in zip(names, match.groups(), strict=True):
            index = next(
                (i for i, p in enumerate(parameters) if p["in"] == "path" and p["name"] == name), None
            )
            if index is None:
                continue
            errors(op.pointer("parameters", str(index), "schema"), value, "path", f"{{{name}}}")
        query_params = {p["name"]: i for i, p in enumerate(parameters) if p["in"] == "query"}
        for name, value in parse_qsl(exchange.query, keep_blank_values=True):
            index = query_params.get(name)
            if index is None:
                found.append(
                    Violation(op.method, op.template, "query", name, "query parameter not in the contract")
                )
                continue
            pointer = op.pointer("parameters", str(index), "schema")
            errors(pointer, _coerce(value, self.schema_at(pointer)), "query", name)
        body_spec = op.spec.get("requestBody", {}).get("content", {}).get("application/json")
        request_json = exchange.request_json()
        if request_json is not None and body_spec is None:
            found.append(
                Violation(op.method, op.template, "request-body", "", "the contract takes no JSON body")
            )
        elif request_json is not None:
            errors(
                op.pointer("requestBody", "content", "application/json", "schema"),
                request_json,
                "request-body",
            )
        elif body_spec is not None and op.spec["requestBody"].get("required"):
            found.append(Violation(op.method, op.template, "request-body", "", "a JSON body is required"))
        responses = op.spec.get("responses", {})
        status = str(exchange.status)
        if status not in responses:
            found.append(
                Violation(
                    op.method,
                    op.template,
                    "status",
                    "",
                    f"status {status} is not listed ({', '.join(responses)})",
                )
            )
            return found
        response = responses[status]
        response_pointer = op.pointer("responses", status)
        if "$ref" in response:
            response_pointer = response["$ref"]
            response = self.schema_at(response_pointer)
        content = response.get("content", {})
        if exchange.content_type.startswith("text/event-stream"):
            media = "text/event-stream"
            if media not in content:
                found.append(
                    Violation(op.method, op.template, "response", "", "the contract has no event stream here")
                )
                return found
            pointer = response_pointer + "/" + _pointer("content", media, "schema")
            if self.schema_at(pointer).get("type") == "string":
                return found  # the stream is described in prose only (hook test streams): nothing to check
            for number, event in enumerate(exchange.sse_events()):
                errors(pointer, event, "response", f"event[{number}]")
            return found
        if "application/json" not in content:
            return found
        errors(
            response_pointer + "/" + _pointer("content", "application/json", "schema"),
            json.loads(exchange.response_body) if exchange.response_body else None,
            "response",
        )
        return found


def _coerce(value: str, schema: Mapping[str, Any]) -> Any:
    kind = schema.get("type")
    if kind == "integer":
        try:
            return int(value)
        except ValueError:
            return value
    if kind == "boolean" and value in ("true", "false"):
        return value == "true"
    return value


def _where(error: ValidationError) -> str:
    return "/" + "/".join(str(part) for part in error.absolute_path)


def _message(error: ValidationError) -> str:
    if error.context:
        # oneOf/anyOf: the deepest error of the branch that got furthest says most.
        best = best_match(error.context)
        while best.context:
            best = best_match(best.context)
        return f"no branch of {error.validator} matches; deepest: {_where(best)}: {best.message[:200]}"
    return str(error.message)[:300]
