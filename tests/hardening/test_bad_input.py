"""Bad input, generated from every tool's input schema: a clear error, zero upstream requests, no crash.

One server (strict arguments, seeded sandbox, canary key) runs on a background loop for the whole module;
each hypothesis example is one `tools/call`. The sandbox counts every request that reaches its API, so
"zero upstream requests" is measured, not assumed.
"""

from __future__ import annotations

import string
from collections.abc import Iterator
from typing import Any

import pytest
from croniter import croniter
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ..helpers import text
from .helpers import CANARY_KEY, ServerThread, sample_arguments, server_thread, tool_parameters

PROPERTY = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

PARAMS = tool_parameters()
TOOLS = sorted(PARAMS)


def _props(tool: str) -> dict[str, Any]:
    return dict(PARAMS[tool].get("properties", {}))


def _kind(schema: dict[str, Any]) -> str:
    kind = schema.get("type", "string")
    return str(kind[0] if isinstance(kind, list) else kind)


ID_FIELDS = [(tool, name) for tool in TOOLS for name in _props(tool) if name.endswith("_id")]
STRING_FIELDS = [
    (tool, name)
    for tool in TOOLS
    for name, schema in _props(tool).items()
    if _kind(schema) == "string" and "enum" not in schema
]
TYPED_FIELDS = [(tool, name) for tool in TOOLS for name in _props(tool)]
LABEL_FIELDS = [(tool, name) for tool in TOOLS for name in _props(tool) if name in ("name", "title")]


@pytest.fixture(scope="module")
def host() -> Iterator[ServerThread]:
    with server_thread(policy="never") as running:
        yield running


def assert_rejected(host: ServerThread, tool: str, arguments: dict[str, Any], *, mentions: str = "") -> str:
    """The call fails with a readable message, and nothing reached the API."""
    before = host.requests()
    result = host.call(tool, arguments)
    message = text(result)
    assert result.is_error, f"{tool}({arguments!r:.200}) was accepted: {message[:300]}"
    assert host.requests() == before, f"{tool} sent a request upstream for bad input {arguments!r:.200}"
    prefix = f"Error executing tool {tool}"
    assert message.startswith(prefix), f"not a tool error: {message!r}"
    assert len(message) > len(prefix) + 20, f"a bare error reached the model: {message!r}"
    assert mentions in message, f"the error does not name {mentions!r}: {message[:400]}"
    assert CANARY_KEY not in message
    return message


def valid(host: ServerThread, tool: str) -> dict[str, Any]:
    assert host.world is not None
    return sample_arguments(tool, PARAMS[tool], host.world)


ID_CHARS = string.ascii_letters + string.digits + "-_"
_TRAVERSALS = [
    "..",
    "../x",
    "../../v1/replica",
    "%2e%2e",
    "%2e%2e%2fadmin",
    "..%2f..%2f",
    "%2E%2E/x",
    "a/b",
    "a?limit=1000",
    "a#frag",
    "a b",
    " a",
    "a\n",
    "./x",
    "x/../y",
    "a\\b",
    "",
    "\u202eevil",
    "a%00",
    "https://evil.example/x",
]
bad_ids = st.one_of(
    st.sampled_from(_TRAVERSALS),
    st.builds(
        lambda head, bad, tail: head + bad + tail,
        st.text(ID_CHARS, max_size=12),
        st.sampled_from(["/", "?", "#", "%", " ", "..", "\\", "\t", "\x00", "&", "=", "\n"]),
        st.text(ID_CHARS, max_size=12),
    ),
)


@pytest.mark.parametrize(("tool", "field"), ID_FIELDS, ids=[f"{t}.{f}" for t, f in ID_FIELDS])
@PROPERTY
@given(bad=bad_ids)
def test_path_and_url_injection_in_ids(host: ServerThread, tool: str, field: str, bad: str) -> None:
    assert_rejected(host, tool, {**valid(host, tool), field: bad}, mentions=field)


def _takes_list(schema: dict[str, Any]) -> bool:
    kind = schema.get("type")
    return kind == "array" or (isinstance(kind, list) and "array" in kind)


def _id_list(name: str) -> bool:
    return name.endswith(("_ids", "_id"))


NESTED_IDS = [
    (tool, name)
    for tool in TOOLS
    for name, schema in _props(tool).items()
    if _takes_list(schema) and (_id_list(name) or "environment_id" in str(schema.get("items")))
]


@pytest.mark.parametrize(("tool", "field"), NESTED_IDS, ids=[f"{t}.{f}" for t, f in NESTED_IDS])
@PROPERTY
@given(bad=bad_ids)
def test_injection_in_ids_inside_lists(host: ServerThread, tool: str, field: str, bad: str) -> None:
    arguments = valid(host, tool)
    items = arguments[field]
    if _id_list(field):
        arguments[field] = [*(items if isinstance(items, list) else [items]), bad]
    else:
        arguments[field] = [{**items[0], "environment_id": bad}]
    assert_rejected(host, tool, arguments, mentions=field)


@pytest.mark.parametrize("tool", TOOLS)
@PROPERTY
@given(
    extra=st.text(string.ascii_letters + "_", min_size=1, max_size=24),
    value=st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20)),
)
def test_unknown_fields(host: ServerThread, tool: str, extra: str, value: Any) -> None:
    if extra in _props(tool):
        extra += "_unknown"
    assert_rejected(host, tool, {**valid(host, tool), extra: value}, mentions=extra)


# Words that are not JSON: the SDK parses a JSON string given for a non-string field ("null" → None).
_WORDS = st.text(string.ascii_letters, min_size=1, max_size=8).filter(
    lambda w: w not in ("null", "true", "false")
)


def _declared(schema: dict[str, Any]) -> set[str]:
    kind = schema.get("type", "string")
    return set(kind) if isinstance(kind, list) else {str(kind)}


def wrong_values(schema: dict[str, Any]) -> Any:
    """Values of JSON types the property's schema does not allow."""
    declared = _declared(schema)
    options: list[st.SearchStrategy[Any]] = []
    if "string" not in declared:
        options.append(_WORDS)
    if not declared & {"integer", "number"}:
        options.append(st.integers())
    if "number" not in declared:
        options.append(st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: not f.is_integer()))
    if "boolean" not in declared:
        options.append(st.booleans())
    if "array" not in declared:
        options.append(st.lists(st.integers(), min_size=1, max_size=3))
    if "object" not in declared:
        options.append(st.just({"a": 1}))
    return st.one_of(*options)


@pytest.mark.parametrize(("tool", "field"), TYPED_FIELDS, ids=[f"{t}.{f}" for t, f in TYPED_FIELDS])
@PROPERTY
@given(data=st.data())
def test_wrong_types(host: ServerThread, tool: str, field: str, data: st.DataObject) -> None:
    wrong = data.draw(wrong_values(_props(tool)[field]))
    assert_rejected(host, tool, {**valid(host, tool), field: wrong}, mentions=field)


@pytest.mark.parametrize(("tool", "field"), STRING_FIELDS, ids=[f"{t}.{f}" for t, f in STRING_FIELDS])
@settings(PROPERTY, max_examples=3)
@given(extra=st.integers(min_value=1, max_value=50_000))
def test_huge_strings(host: ServerThread, tool: str, field: str, extra: int) -> None:
    limit = int(_props(tool)[field].get("maxLength", 100_000))
    assert_rejected(host, tool, {**valid(host, tool), field: "x" * (limit + extra)}, mentions=field)


@pytest.mark.parametrize(("tool", "field"), LABEL_FIELDS, ids=[f"{t}.{f}" for t, f in LABEL_FIELDS])
@PROPERTY
@given(
    name=st.builds(
        lambda word, space, where: space + word if where else word + space,
        st.text(ID_CHARS, min_size=1, max_size=20),
        st.sampled_from([" ", "\t", "\n", "\r\n", "  ", "\u2028"]),
        st.booleans(),
    )
)
def test_names_with_surrounding_whitespace(host: ServerThread, tool: str, field: str, name: str) -> None:
    assert_rejected(host, tool, {**valid(host, tool), field: name}, mentions=field)


@PROPERTY
@given(
    name=st.builds(
        lambda a, space, b: a + space + b,
        st.text(ID_CHARS, min_size=1, max_size=10),
        st.sampled_from([" ", "\t", "  ", "\u00a0"]),
        st.text(ID_CHARS, min_size=1, max_size=10),
    )
)
def test_replica_names_never_contain_whitespace(host: ServerThread, name: str) -> None:
    assert_rejected(host, "create_replica", {**valid(host, "create_replica"), "name": name}, mentions="name")


FILE_WRITERS = [tool for tool in TOOLS if tool in ("set_environment_file", "set_environment_item")]
CRON_TOOLS = [tool for tool in TOOLS if "triggers" in _props(tool)]


def _file_arguments(host: ServerThread, tool: str, content: str) -> dict[str, Any]:
    if tool == "set_environment_item":
        return {**valid(host, tool), "kind": "file", "name": "~/BIG.md", "value": content}
    return {**valid(host, tool), "content": content}


@pytest.mark.parametrize("tool", FILE_WRITERS)
@settings(PROPERTY, max_examples=5)
@given(chars=st.integers(min_value=32_769, max_value=65_536), char=st.sampled_from(["é", "ж", "€", "😀"]))
def test_environment_files_over_64_kb(host: ServerThread, tool: str, chars: int, char: str) -> None:
    content = char * chars  # at most 65,536 characters, but more than 64 KB of UTF-8
    assert len(content.encode()) > 65_536
    message = assert_rejected(host, tool, _file_arguments(host, tool, content))
    assert "64 KB" in message or "65536" in message


def test_there_are_tools_for_the_file_and_cron_properties() -> None:
    assert FILE_WRITERS, "no tool writes environment files any more: update the 64 KB test"
    assert CRON_TOOLS, "no tool takes triggers any more: update the cron test"


_bad_cron = st.one_of(
    st.sampled_from(
        ["* * *", "61 * * * *", "0 25 * * *", "every day", "0 9 * * 8", "*/0 * * * *", "@sometimes"]
    ),
    st.text(max_size=30).filter(lambda s: not croniter.is_valid(s)),
)


@pytest.mark.parametrize("tool", CRON_TOOLS)
@pytest.mark.parametrize("creating", [True, False])
@PROPERTY
@given(schedule=_bad_cron)
def test_bad_cron_expressions(host: ServerThread, tool: str, creating: bool, schedule: str) -> None:
    arguments = {**valid(host, tool), "triggers": [{"type": "cron", "config": {"schedule": schedule}}]}
    if creating:
        arguments = {k: v for k, v in arguments.items() if k != "automation_id"}
        arguments.update(name="nightly-bad", prompt="Run the tests")
    message = assert_rejected(host, tool, arguments)
    assert "cron" in message


def test_the_server_still_serves_after_all_that(host: ServerThread) -> None:
    before = host.requests()
    result = host.call("list_replicas", {})
    assert not result.is_error, text(result)
    assert host.requests() >= before + 1  # the list, plus a look at each active replica for a question
