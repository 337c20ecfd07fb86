"""The full `tools/list`, byte for byte, against committed snapshots.

The published schemas are built by the SDK from the tool signatures and then shaped (compacted, defs
inlined, output schemas thinned); this test pins the result, so a change in that machinery (or an SDK
upgrade) that alters what a model reads shows up as a diff in review.

When a change to tool text or schemas is intended, regenerate and review the diff:

    .venv/bin/pytest tests/server/test_tools_list_snapshot.py --update-snapshots
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from replicas_mcp.client import ReplicasClient
from replicas_mcp.server import build_server

from .helpers import settings

SNAPSHOTS = Path(__file__).parent / "snapshots"

# name -> (settings fields, protocol mode of the client)
VARIANTS: dict[str, tuple[dict[str, Any], str]] = {
    "default": ({}, "auto"),
    "all": ({"toolsets": ("all",)}, "auto"),
    "all-read-only": ({"toolsets": ("all",), "read_only": True}, "auto"),
}


async def _tools_list(fields: dict[str, Any], mode: str) -> list[dict[str, Any]]:
    # tools/list makes no upstream request: the client points at a closed port and is never used.
    async with ReplicasClient(api_key="sk_replicas_snapshot-key", base_url="http://127.0.0.1:9") as api:
        server = build_server(settings(**fields), client=api)
        async with Client(server, mode=mode) as client:
            tools = (await client.list_tools()).tools
    return [tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in tools]


def _render(tools: list[dict[str, Any]]) -> str:
    return json.dumps({"tools": tools}, indent=2, ensure_ascii=False) + "\n"


@pytest.mark.parametrize("variant", list(VARIANTS))
async def test_tools_list_matches_snapshot(variant: str, request: pytest.FixtureRequest) -> None:
    fields, mode = VARIANTS[variant]
    rendered = _render(await _tools_list(fields, mode))
    path = SNAPSHOTS / f"tools-list-{variant}.json"
    if request.config.getoption("--update-snapshots"):
        path.write_text(rendered, encoding="utf-8")
        return
    assert path.exists(), f"no snapshot {path.name}: run pytest with --update-snapshots and review it"
    expected = path.read_text(encoding="utf-8")
    if rendered != expected:
        names = [tool["name"] for tool in json.loads(rendered)["tools"]]
        changed = [
            tool["name"]
            for tool in json.loads(rendered)["tools"]
            if tool not in json.loads(expected)["tools"]
        ]
        pytest.fail(
            f"tools/list ({variant}) differs from {path.name}: changed or new tools {changed} "
            f"(of {len(names)}). If intended, regenerate with --update-snapshots and review the diff."
        )
