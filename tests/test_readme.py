"""The README's tool table is the declarations': every tool, in tools/list order, with its annotations.

Regenerate the table with `python tests/test_readme.py` and paste it between the README's markers.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from replicas_mcp.sandbox.serve import RunningSandbox
from replicas_mcp.server.tools import TOOLSETS, ToolSpec, all_tools

from .server.helpers import connect

README = Path(__file__).parents[1] / "README.md"
START, END = "<!-- tools-table:start -->", "<!-- tools-table:end -->"


def _summary(spec: ToolSpec) -> str:
    """The description's first sentence, on one line."""
    text = " ".join(spec.description.split())
    match = re.match(r"(.+?(?<!e\.g)(?<!i\.e)[.!?])(\s|$)", text)
    return (match.group(1) if match else text).replace("|", "\\|")


def _hints(spec: ToolSpec) -> str:
    if spec.read_only:
        return "read-only"
    words = ["destructive" if spec.destructive else "writes"]
    if spec.idempotent:
        words.append("idempotent")
    return ", ".join(words)


def render_tools_table() -> str:
    lines: list[str] = []
    specs = all_tools()
    for toolset, about in TOOLSETS.items():
        members = [spec for spec in specs if spec.toolset == toolset]
        lines += ["", f"**`{toolset}`**: {about}", "", "| Tool | What it does | Hints |", "|---|---|---|"]
        lines += [f"| `{spec.name}` | {_summary(spec)} | {_hints(spec)} |" for spec in members]
    return "\n".join(lines[1:])


def test_the_readme_lists_every_tool_as_the_registry_declares_it() -> None:
    text = README.read_text(encoding="utf-8")
    assert START in text, "the README lost its tools-table start marker"
    assert END in text, "the README lost its tools-table end marker"
    table = text.split(START, 1)[1].split(END, 1)[0].strip()
    assert table == render_tools_table(), "README tool table is stale: run `python tests/test_readme.py`"


async def test_the_readme_lists_every_resource_and_prompt_the_server_offers(sandbox: RunningSandbox) -> None:
    async with connect(sandbox, toolsets=["all"]) as client:
        uris = [r.uri for r in (await client.list_resources()).resources if str(r.uri).count("/") == 2]
        templates = [t.uri_template for t in (await client.list_resource_templates()).resource_templates]
        prompts = (await client.list_prompts()).prompts
    text = README.read_text(encoding="utf-8")
    for uri in [*map(str, uris), *templates]:
        assert f"`{uri}`" in text, f"the README's Resources line lacks {uri}"
    for prompt in prompts:
        signature = f"{prompt.name}({', '.join(a.name for a in prompt.arguments or [])})"
        assert f"`{signature}`" in text, f"the README's Prompts line lacks {signature}"


def test_the_readme_names_the_files_this_version_builds() -> None:
    """The install table names the wheel, source archive and bundle by file name: a version bump must carry
    them along, or a newcomer looks for a file that does not exist."""
    project = tomllib.loads((README.parent / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    version = project["version"]
    text = README.read_text(encoding="utf-8")
    for name in (f"replicas_mcp-{version}-py3-none-any.whl", f"replicas_mcp-{version}.tar.gz"):
        assert name in text
    assert f"{project['name']}-{version}.mcpb" in text
    for doc in (README, README.parent / "docs" / "connecting.md"):
        named = set(re.findall(r"replicas[_-]mcp-(\d+\.\d+\.\d+)", doc.read_text(encoding="utf-8")))
        assert named <= {version}, f"{doc.name} names version(s) {named - {version}}"


if __name__ == "__main__":
    print(render_tools_table())
