"""Tool selection, declaration rules and schemas: pure tests of server/tools, no server needed."""

from __future__ import annotations

import pytest

from replicas_mcp.server.tools import (
    TOOLSETS,
    SelectionError,
    ToolGroup,
    ToolResult,
    ToolSelection,
    all_tools,
    select_tools,
)
from replicas_mcp.server.tools.schema import compact_schema
from replicas_mcp.server.tools.wrapper import build_tool


def names(selection: ToolSelection) -> list[str]:
    return [spec.name for spec in select_tools(selection)]


DEFAULT = [
    "list_repositories",
    "list_environments",
    "list_replicas",
    "get_replica",
    "create_replica",
    "send_replica_message",
    "read_replica_history",
    "delete_replica",
]


def replicas_module(names: list[str]) -> list[str]:
    """The tools of toolsets/replicas.py among `names` (the default toolset also holds workflow tools)."""
    return [name for name in names if name in DEFAULT]


def test_default_toolset_is_replicas_in_stable_order() -> None:
    assert replicas_module(names(ToolSelection())) == DEFAULT
    assert names(ToolSelection(toolsets=("replicas",))) == names(ToolSelection())
    assert {spec.toolset for spec in select_tools(ToolSelection())} == {"replicas"}


def test_official_names_kept() -> None:
    official = {
        "create_replica", "list_replicas", "get_replica", "send_replica_message", "delete_replica",
        "list_repositories", "list_repository_sets", "list_chats", "create_chat", "delete_chat",
        "read_replica_history", "get_replica_hooks",
    }  # fmt: skip
    assert official <= {spec.name for spec in all_tools()}


@pytest.mark.parametrize("toolset", list(TOOLSETS))
def test_each_toolset_alone(toolset: str) -> None:
    chosen = select_tools(ToolSelection(toolsets=(toolset,)))
    assert chosen
    assert {spec.toolset for spec in chosen} == {toolset}


def test_all_is_every_tool_in_registry_order() -> None:
    assert names(ToolSelection(toolsets=("all",))) == [spec.name for spec in all_tools()]


def test_allow_list_adds_and_alone_starts_from_nothing() -> None:
    assert names(ToolSelection(allow=("list_chats",))) == ["list_chats"]
    default = names(ToolSelection())
    assert names(ToolSelection(toolsets=("replicas",), allow=("list_chats",))) == [*default, "list_chats"]


def test_deny_list_always_wins() -> None:
    chosen = names(ToolSelection(toolsets=("all",), allow=("delete_replica",), deny=("delete_replica",)))
    assert "delete_replica" not in chosen


def test_read_only_wins_over_everything() -> None:
    chosen = select_tools(
        ToolSelection(toolsets=("all",), allow=("delete_replica", "create_replica"), read_only=True)
    )
    assert chosen
    assert all(spec.read_only for spec in chosen)
    assert "delete_replica" not in {s.name for s in chosen}
    assert {"list_replicas", "get_replica", "read_replica_history", "get_environment"} <= {
        s.name for s in chosen
    }


@pytest.mark.parametrize(
    "selection",
    [
        ToolSelection(toolsets=("nope",)),
        ToolSelection(allow=("no_such_tool",)),
        ToolSelection(deny=("typo",)),
    ],
)
def test_unknown_names_are_errors(selection: ToolSelection) -> None:
    with pytest.raises(SelectionError):
        select_tools(selection)


def test_annotations_are_consistent() -> None:
    for spec in all_tools():
        a = spec.annotations()
        assert a.read_only_hint is spec.read_only
        assert a.open_world_hint is True
        if spec.read_only:
            assert a.destructive_hint is None
            assert a.idempotent_hint is None
        else:
            assert isinstance(a.destructive_hint, bool)
            assert isinstance(a.idempotent_hint, bool)
    by_name = {spec.name: spec for spec in all_tools()}
    assert by_name["delete_replica"].destructive
    assert by_name["delete_replica"].idempotent
    assert not by_name["create_replica"].destructive
    assert not by_name["create_replica"].idempotent
    assert by_name["list_replicas"].read_only


def test_every_tool_has_title_description_and_schemas() -> None:
    for spec in all_tools():
        tool = build_tool(spec)
        assert tool.title, spec.name
        assert len(tool.description) > 30, spec.name
        assert tool.output_schema is not None, spec.name
        assert tool.output_schema["type"] == "object", spec.name
        assert "title" not in str(tool.parameters.get("properties", {}).values()), spec.name


class Out(ToolResult):
    x: int


def test_declaring_a_tool_checks_its_shape() -> None:
    group = ToolGroup("replicas")

    with pytest.raises(ValueError, match="docstring"):

        @group.tool(title="T", read_only=True)
        async def undocumented() -> Out:
            return Out(x=1)

    with pytest.raises(TypeError, match="ToolResult"):

        @group.tool(title="T", read_only=True)
        async def plain() -> dict[str, int]:
            """Returns a dict."""
            return {}

    with pytest.raises(ValueError, match="read-only"):
        group.tool(title="T", read_only=True, destructive=True)
    with pytest.raises(ValueError, match="unknown toolset"):
        ToolGroup("nope")


def test_compact_schema_keeps_meaning() -> None:
    schema = {
        "title": "Args",
        "type": "object",
        "properties": {
            "title": {"title": "Title", "anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
            "n": {"title": "N", "type": "integer", "default": 3},
            "flag": {"type": "boolean", "default": False},
        },
    }
    assert compact_schema(schema) == {
        "type": "object",
        "properties": {
            "title": {"type": "string"},
            "n": {"type": "integer", "default": 3},
            "flag": {"type": "boolean"},
        },
    }


def test_default_selection_imports_only_its_toolset_modules() -> None:
    """A cold start of the default toolset does not pay for the other toolsets' modules."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from replicas_mcp.server.tools import ToolSelection, select_tools\n"
        "select_tools(ToolSelection())\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('replicas_mcp.server.toolsets.'))\n"
        "print(','.join(loaded))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    loaded = set(out.strip().split(","))
    assert "replicas_mcp.server.toolsets.replicas" in loaded
    assert not loaded & {
        f"replicas_mcp.server.toolsets.{name}"
        for name in ("chats", "canvas", "hooks", "environments", "automations")
    }


def test_noise_bounds_are_not_published_but_still_enforced() -> None:
    tool = build_tool(next(spec for spec in all_tools() if spec.name == "create_replica"))
    message = tool.parameters["properties"]["message"]
    assert "maxLength" not in message
    assert "minLength" not in message
    assert tool.parameters["properties"]["name"]["maxLength"] == 100  # a real limit stays
    with pytest.raises(ValueError, match="message"):
        tool.fn_metadata.arg_model.model_validate({"name": "x", "message": "", "environment_id": "e"})


def test_every_id_argument_is_typed_as_an_id() -> None:
    """Ids are checked for shape because of their type (`Id`), not their name: a tool that names an
    argument like an id but types it as plain text would skip the check, so that is caught here."""
    for spec in all_tools():
        properties = build_tool(spec).parameters.get("properties", {})
        named_like_ids = {name for name in properties if name.endswith(("_id", "_ids"))}
        assert named_like_ids <= spec.id_args, f"{spec.name}: type {named_like_ids - spec.id_args} as Id"
