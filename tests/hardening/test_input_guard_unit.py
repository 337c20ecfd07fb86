"""`harden_tool` on a tool of its own: bad base64 images never reach the tool body (no current tool takes
images, but the check applies to any `images` argument)."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import anyio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from mcp import Client
from mcp.server import MCPServer
from mcp.server.mcpserver.tools import Tool
from mcp.types import TextContent

from replicas_mcp.server.input_guard import ArgumentError, check_arguments, harden_tool

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
BODY_RAN: list[int] = []


async def attach_images(replica_id: str, images: list[dict[str, Any]]) -> str:
    """Attach images to a replica (a stand-in for a tool that sends images upstream)."""
    BODY_RAN.append(len(images))
    return "attached"


SERVER = MCPServer("guard-test", log_level="WARNING", tools=[harden_tool(Tool.from_function(attach_images))])


def _not_image_base64(value: str) -> bool:
    try:
        return not base64.b64decode(value, validate=True).startswith(PNG[:8])
    except (binascii.Error, ValueError):
        return True


async def _call(arguments: dict[str, Any]) -> tuple[bool, str]:
    async with Client(SERVER) as client:
        with anyio.fail_after(10):
            result = await client.call_tool("attach_images", arguments)
    return result.is_error, "".join(b.text for b in result.content if isinstance(b, TextContent))


@settings(max_examples=25, deadline=None)
@given(
    data=st.one_of(
        st.text(max_size=40).filter(_not_image_base64),
        st.binary(max_size=40).map(lambda raw: base64.b64encode(b"GARBAGE" + raw).decode()),
        st.just("iVBORw0KGgo=!"),
    )
)
def test_bad_base64_images_never_reach_the_tool(data: str) -> None:
    BODY_RAN.clear()
    failed, message = anyio.run(
        _call, {"replica_id": "r-1", "images": [{"data": data, "media_type": "image/png"}]}
    )
    assert failed
    assert "images" in message
    assert BODY_RAN == []


async def test_a_real_image_is_accepted() -> None:
    BODY_RAN.clear()
    failed, message = await _call(
        {"replica_id": "r-1", "images": [{"data": base64.b64encode(PNG).decode(), "media_type": "image/png"}]}
    )
    assert not failed, message
    assert BODY_RAN == [1]


def test_ids_inside_lists_are_checked_too() -> None:
    """Whatever tools take lists of ids today (test_bad_input covers them end to end when they exist)."""
    known = frozenset({"replica_ids", "tasks"})
    check_arguments("t", known, {"replica_ids": ["r-1", "r-2"], "tasks": [{"environment_id": "e-1"}]})
    for bad in ({"replica_ids": ["r-1", "../r-2"]}, {"tasks": [{"environment_id": "e/../1", "task": "x"}]}):
        with pytest.raises(ArgumentError, match=r"replica_ids\[1\]|tasks\[0\]\.environment_id"):
            check_arguments("t", known, bad)
