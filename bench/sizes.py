"""Section 4: result size: bytes on the wire for typical results against their useful payload.

Wire: the exact `tools/call` response line a stdio server writes (2025-11-25 handshake). Useful payload:
the result's data once, without envelope: the larger of its structured content as compact JSON (UTF-8)
and its text blocks. The text and structured sizes are reported beside it: when both carry the whole
result, one payload is encoded twice (and the JSON-in-a-string text is escaped on top).
"""

from __future__ import annotations

import json
from typing import Any

from bench.procs import stdio_server_argv
from bench.rawstdio import initialized
from bench.results import Report, Target
from bench.world import World

WIRE_LIMIT = 16 * 1024
RATIO_LIMIT = 1.3
MISSING = "n/a (tool missing)"


def compact(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def _calls(world: World) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        ("list_replicas (10 items)", "list_replicas", {}),
        ("read_replica_history (50 events)", "read_replica_history", {"replica_id": world.history_replica}),
        ("get_replica", "get_replica", {"replica_id": world.target}),
        ("get_replica_result", "get_replica_result", {"replica_id": world.target}),
    ]


async def measure(world: World, report: Report) -> None:
    rows: dict[str, Any] = {}
    async with initialized(stdio_server_argv(), world.server_env()) as session:
        names = {tool["name"] for tool in json.loads(await session.request("tools/list"))["result"]["tools"]}
        for label, tool, args in _calls(world):
            if tool not in names:
                rows[label] = MISSING
                continue
            raw, result = await session.call_tool(tool, args)
            structured = result.get("structuredContent")
            structured_bytes = len(compact(structured)) if structured is not None else 0
            text = sum(len(block.get("text", "").encode()) for block in result.get("content", []))
            useful = max(structured_bytes, text)
            rows[label] = {
                "wire_bytes": len(raw),
                "useful_bytes": useful,
                "ratio": round(len(raw) / useful, 3) if useful else None,
                "text_block_bytes": text,
                "structured_bytes": structured_bytes,
            }
    report.sections["result_size"] = {
        "method": "stdio tools/call response line vs compact JSON of structuredContent",
        "rows": rows,
    }
    for label, row in rows.items():
        if label == "get_replica":
            continue  # shown for reference; not one of the typical results
        if isinstance(row, str):
            report.add_targets(
                Target(f"{label} wire", WIRE_LIMIT / 1024, None, " KB", note=row),
                Target(f"{label} wire / useful", RATIO_LIMIT, None, "×", note=row),
            )
            continue
        report.add_targets(
            Target(f"{label} wire", WIRE_LIMIT / 1024, row["wire_bytes"] / 1024, " KB"),
            Target(f"{label} wire / useful", RATIO_LIMIT, row["ratio"], "×"),
        )


def table(report: Report) -> str:
    section = report.sections.get("result_size")
    if not section:
        return ""
    lines = [f"{'result':34} {'wire B':>7} {'useful B':>8} {'ratio':>6} {'text B':>7} {'struct B':>8}"]
    for label, row in section["rows"].items():
        if isinstance(row, str):
            lines.append(f"{label:34} {row}")
            continue
        lines.append(
            f"{label:34} {row['wire_bytes']:7d} {row['useful_bytes']:8d} {row['ratio']:6.2f} "
            f"{row['text_block_bytes']:7d} {row['structured_bytes']:8d}"
        )
    return "\n".join(lines)
