"""Section 3: context cost: what a client puts into the model's context before any call.

`tools/list` per toolset and for all, `resources/templates/list`, `resources/list` and `prompts/list`:
the exact response line a stdio server writes (2025-11-25 handshake), in bytes, and estimated tokens
as bytes / 4 (a rough rule for JSON with English text; no tokenizer is installed).
"""

from __future__ import annotations

import json
from typing import Any

from bench.procs import stdio_server_argv
from bench.rawstdio import initialized
from bench.results import Report, Target
from bench.sizes import compact
from bench.world import World
from replicas_mcp.server.tools import ALL, TOOLSETS

DEFAULT_TOOLS_LIST_LIMIT = 10 * 1024  # bytes


def tokens(size: int) -> int:
    return round(size / 4)


async def _sizes(world: World, toolsets: str, *, lists: bool) -> dict[str, Any]:
    async with initialized(stdio_server_argv(), world.server_env(REPLICAS_MCP_TOOLSETS=toolsets)) as session:
        tools = await session.request("tools/list")
        listed = json.loads(tools)["result"]["tools"]
        out: dict[str, Any] = {"tools": len(listed), "bytes": len(tools), "tokens_est": tokens(len(tools))}
        out["bytes_per_tool"] = {tool["name"]: len(compact(tool)) for tool in listed}
        if lists:
            for method in ("resources/templates/list", "resources/list", "prompts/list"):
                raw = await session.request(method)
                out[method] = {"bytes": len(raw), "tokens_est": tokens(len(raw))}
        return out


async def measure(world: World, report: Report) -> None:
    per_toolset: dict[str, Any] = {}
    for name in [*TOOLSETS, ALL]:
        per_toolset[name] = await _sizes(world, name, lists=name == "replicas")
    default = per_toolset["replicas"]
    report.sections["context"] = {
        "method": "stdio response line bytes (2025-11-25); tokens estimated as bytes/4",
        "tools_list": {
            k: {x: v[x] for x in ("tools", "bytes", "tokens_est")} for k, v in per_toolset.items()
        },
        "default_bytes_per_tool": default["bytes_per_tool"],
        "other_lists_default_server": {
            key: default[key] for key in ("resources/templates/list", "resources/list", "prompts/list")
        },
    }
    report.add_targets(
        Target("tools/list, default toolset", DEFAULT_TOOLS_LIST_LIMIT / 1024, default["bytes"] / 1024, " KB")
    )


def table(report: Report) -> str:
    section = report.sections.get("context")
    if not section:
        return ""
    lines = [f"{'tools/list':14} {'tools':>5} {'bytes':>7} {'~tokens':>8}"]
    for name, row in section["tools_list"].items():
        lines.append(f"{name:14} {row['tools']:5d} {row['bytes']:7d} {row['tokens_est']:8d}")
    per_tool = sorted(section["default_bytes_per_tool"].items(), key=lambda kv: -kv[1])
    lines.append("default toolset, bytes per tool: " + ", ".join(f"{n} {b}" for n, b in per_tool))
    for method, row in section["other_lists_default_server"].items():
        lines.append(f"{method:26} {row['bytes']:7d} bytes ~{row['tokens_est']} tokens")
    return "\n".join(lines)
