"""Which tools a server serves: the toolset modules, and the selection rules of `--toolsets`, `--tools`,
`--exclude-tools` and `--read-only`.

Selection (`select_tools`), in this order:
  1. the tools of the chosen toolsets (`--toolsets`, default `replicas`; `all` is everything); when an allow
     list is given without explicit toolsets, start from nothing;
  2. add every tool named in the allow list (`--tools`);
  3. remove every tool named in the deny list (`--exclude-tools`): the deny list always wins;
  4. with `--read-only`, drop every tool not annotated read-only: this wins over everything.
Unknown toolset or tool names are errors (a typo would otherwise silently expose or hide tools).
"""

from __future__ import annotations

import difflib
import functools
import importlib
from collections.abc import Sequence
from dataclasses import dataclass

from replicas_mcp.server.tools.declaration import TOOLSETS, ToolGroup, ToolSpec

ALL = "all"
DEFAULT_TOOLSETS = ("replicas",)

# Modules under replicas_mcp.server.toolsets, in tools/list order.
# The delegation workflow tools come first: they are what the default toolset is mostly used for.
TOOL_MODULES: tuple[str, ...] = (
    "delegation",
    "replicas",
    "chats",
    "canvas",
    "hooks",
    "environments",
    "automations",
)

# The toolset of each module whose name is not a toolset's own; `select_tools` imports only the modules
# of the toolsets it serves (a cold start of the default toolset skips the rest).
MODULE_TOOLSET: dict[str, str] = {"delegation": "replicas"}


def all_tools() -> tuple[ToolSpec, ...]:
    """Every declared tool, in tools/list order. Imports the toolset modules on first use."""
    return tools_of(frozenset(TOOLSETS))


@functools.cache
def tools_of(toolsets: frozenset[str]) -> tuple[ToolSpec, ...]:
    """The tools of these toolsets, in tools/list order; imports only their modules."""
    specs: list[ToolSpec] = []
    for module_name in TOOL_MODULES:
        if MODULE_TOOLSET.get(module_name, module_name) not in toolsets:
            continue
        module = importlib.import_module(f"replicas_mcp.server.toolsets.{module_name}")
        group = module.tools
        if not isinstance(group, ToolGroup):
            raise TypeError(f"replicas_mcp.server.toolsets.{module_name}.tools must be a ToolGroup")
        specs.extend(group.specs)
    names = [spec.name for spec in specs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"tool names declared twice: {', '.join(duplicates)}")
    return tuple(specs)


class SelectionError(ValueError):
    """A toolset or tool name that does not exist."""


def unknown_tools_message(unknown: Sequence[str], known: Sequence[str]) -> str:
    """Names the closest real tools (an installed package has no docs/ to look them up in)."""
    guesses = sorted({m for name in unknown for m in difflib.get_close_matches(name, known, n=2)})
    hint = f"did you mean {', '.join(guesses)}? " if guesses else ""
    return f"unknown tool(s) {', '.join(unknown)}; {hint}the tools are: {', '.join(known)}"


@dataclass(frozen=True)
class ToolSelection:
    toolsets: tuple[str, ...] = ()  # empty: the default toolsets (or none, when an allow list is given)
    allow: tuple[str, ...] = ()
    deny: tuple[str, ...] = ()
    read_only: bool = False


def select_tools(selection: ToolSelection, specs: Sequence[ToolSpec] | None = None) -> list[ToolSpec]:
    """The tools to serve, in registry order. See the module docstring for the rules.

    Without `specs`, imports only the modules of the chosen toolsets, unless tools are named (allow or
    deny list): checking those names needs every tool.
    """
    unknown_sets = [name for name in selection.toolsets if name != ALL and name not in TOOLSETS]
    if unknown_sets:
        raise SelectionError(
            f"unknown toolset(s) {', '.join(unknown_sets)}; choose from {', '.join([*TOOLSETS, ALL])}"
        )
    if specs is None:
        chosen = selection.toolsets or DEFAULT_TOOLSETS
        named = selection.allow or selection.deny or ALL in chosen
        specs = all_tools() if named else tools_of(frozenset(chosen))
    known_tools = {spec.name for spec in specs}
    unknown_tools = [name for name in (*selection.allow, *selection.deny) if name not in known_tools]
    if unknown_tools:
        raise SelectionError(unknown_tools_message(unknown_tools, sorted(known_tools)))

    toolsets = selection.toolsets or (() if selection.allow else DEFAULT_TOOLSETS)
    wanted_sets = set(TOOLSETS) if ALL in toolsets else set(toolsets)
    return [
        spec
        for spec in specs
        if (spec.toolset in wanted_sets or spec.name in selection.allow)
        and spec.name not in selection.deny
        and (spec.read_only or not selection.read_only)
    ]
