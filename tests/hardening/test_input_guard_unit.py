"""The strict argument checks on a tool of its own: bad base64 images never reach the tool body (no current
tool takes images, but the check applies to any `images` argument); ids are known by their type."""

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
from mcp.types import TextContent

from replicas_mcp.server.tools import ToolGroup, ToolResult
from replicas_mcp.server.tools.arguments import ArgumentError, Id, check_arguments
from replicas_mcp.server.tools.wrapper import build_tool

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
BODY_RAN: list[int] = []


GROUP = ToolGroup("replicas")


class Attached(ToolResult):
    count: int


@GROUP.tool(title="Attach images", read_only=False)
async def attach_images(replica_id: Id, images: list[dict[str, Any]]) -> Attached:
    """Attach images to a replica (a stand-in for a tool that sends images upstream)."""
    BODY_RAN.append(len(images))
    return Attached(count=len(images))


SERVER = MCPServer("guard-test", log_level="WARNING", tools=[build_tool(GROUP.specs[0])])


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


def test_ids_are_known_by_their_type_and_checked_item_by_item_in_lists() -> None:
    """Whatever tools take lists of ids today (test_bad_input covers them end to end when they exist)."""
    known = frozenset({"replicas", "tasks", "label_id"})
    ids = frozenset({"replicas"})
    check_arguments("t", known, {"replicas": ["r-1", "r-2"], "tasks": [{"name": "a"}]}, ids=ids)
    with pytest.raises(ArgumentError, match=r"replicas\[1\]"):
        check_arguments("t", known, {"replicas": ["r-1", "../r-2"]}, ids=ids)
    # The name alone makes nothing an id: only the declared type does.
    check_arguments("t", known, {"label_id": "a b"}, ids=ids)
    assert GROUP.specs[0].id_args == {"replica_id"}
