"""Each SDK internal that `server/tools/sdk.py` relies on, exercised through a real in-memory server: when an
SDK upgrade changes one, the test named for it fails here (and nowhere else needs to change)."""

from __future__ import annotations

import io
import json
import logging
import os
import sys
from typing import Annotated, Any

import anyio
import pytest
from mcp import Client, MCPDeprecationWarning, MCPError
from mcp.server import MCPServer, ServerRequestContext
from mcp.server.mcpserver import Context
from mcp.types import (
    INVALID_PARAMS,
    BlobResourceContents,
    EmptyResult,
    GetPromptRequestParams,
    SubscribeRequestParams,
    TextContent,
    TextResourceContents,
)
from pydantic import Field

from replicas_mcp.server.tools import ToolGroup, ToolResult
from replicas_mcp.server.tools.arguments import Id
from replicas_mcp.server.tools.confirmation import Confirmation
from replicas_mcp.server.tools.sdk import (
    TypedBody,
    add_request_handler,
    add_typed_template,
    can_send_request,
    check_before,
    form_schema,
    output_schema_of,
    run_stdio_in_a_terminal,
)
from replicas_mcp.server.tools.wrapper import build_tool

from ..helpers import INITIALIZE, eventually

GROUP = ToolGroup("replicas")
SEEN: list[dict[str, Any]] = []


class Labelled(ToolResult):
    label: str | None = None
    count: Annotated[int, Field(description="dropped from the published output schema")] = 0
    back_channel: bool = False


@GROUP.tool(title="Label", read_only=False)
async def label(ctx: Context[Any, Any], replica_id: Id, name: str | None = None) -> Labelled:
    """Label a replica."""
    SEEN.append({"replica_id": replica_id, "name": name})
    return Labelled(label=name, back_channel=can_send_request(ctx))


def _server() -> MCPServer[Any]:
    return MCPServer("sdk-test", log_level="WARNING", tools=[build_tool(GROUP.specs[0])])


async def _call(client: Client, arguments: dict[str, Any]) -> tuple[bool, str, dict[str, Any] | None]:
    with anyio.fail_after(10):
        result = await client.call_tool("label", arguments)
    body = "".join(b.text for b in result.content if isinstance(b, TextContent))
    return result.is_error, body, result.structured_content


async def test_the_shaped_schemas_are_what_tools_list_publishes() -> None:
    tool = build_tool(GROUP.specs[0])
    async with Client(_server()) as client:
        (listed,) = (await client.list_tools()).tools
    assert listed.input_schema == tool.parameters
    assert "title" not in listed.input_schema  # shaped: pydantic's titles are gone
    assert listed.output_schema == output_schema_of(tool)
    assert listed.output_schema is not None
    assert "description" not in listed.output_schema["properties"]["count"]


async def test_the_strict_argument_model_validates_every_call() -> None:
    async with Client(_server()) as client:
        failed, message, _ = await _call(client, {"replica_id": "r-1", "nmae": "typo"})
        assert failed
        assert "has no argument(s) nmae" in message
        failed, message, _ = await _call(client, {"replica_id": "../r-1"})
        assert failed
        assert "is not an id" in message


async def test_text_arguments_are_not_json_parsed() -> None:
    SEEN.clear()
    async with Client(_server()) as client:
        failed, message, structured = await _call(client, {"replica_id": "r-1", "name": "null"})
    assert not failed, message
    assert SEEN == [{"replica_id": "r-1", "name": "null"}]  # the SDK alone would have passed None
    assert structured is not None
    assert structured["label"] == "null"


async def test_a_legacy_session_reports_its_back_channel() -> None:
    async with Client(_server(), mode="legacy") as client:
        failed, message, structured = await _call(client, {"replica_id": "r-1"})
    assert not failed, message
    assert structured is not None
    assert structured["back_channel"] is True


async def test_a_low_level_request_handler_serves_its_method() -> None:
    server = _server()
    subscribed: list[str] = []

    async def on_subscribe(
        ctx: ServerRequestContext[Any, Any], params: SubscribeRequestParams
    ) -> EmptyResult:
        subscribed.append(str(params.uri))
        return EmptyResult()

    add_request_handler(server, "resources/subscribe", SubscribeRequestParams, on_subscribe)
    async with Client(server, mode="legacy") as client:
        # deprecated for 2026 clients; a 2025 client uses it
        with anyio.fail_after(10), pytest.warns(MCPDeprecationWarning):
            await client.session.subscribe_resource("replicas://replicas/r-1")
    assert subscribed == ["replicas://replicas/r-1"]


async def test_a_check_runs_before_the_sdks_own_handler(caplog: pytest.LogCaptureFixture) -> None:
    server = MCPServer("checked")
    server.prompt(name="hello")(lambda: "Hello")
    checked: list[str] = []

    def known(params: GetPromptRequestParams) -> None:
        checked.append(params.name)
        if params.name != "hello":
            raise MCPError(code=INVALID_PARAMS, message="unknown")

    check_before(server, "prompts/get", known)
    async with Client(server) as client:
        hello = await client.get_prompt("hello", {})  # the SDK's handler still serves a known name
        with pytest.raises(MCPError) as refused:
            await client.get_prompt("nope", {})
    assert checked == ["hello", "nope"]
    assert "Hello" in str(hello.messages[0].content)
    assert refused.value.error.code == INVALID_PARAMS
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]  # refused before the SDK logs


def test_a_confirmation_form_is_one_boolean() -> None:
    schema = form_schema(Confirmation)
    assert schema["type"] == "object"
    assert schema["properties"]["confirm"]["type"] == "boolean"
    assert schema["required"] == ["confirm"]


async def test_a_typed_template_gives_each_read_its_own_mime_type() -> None:
    server = _server()

    async def item(name: str) -> TypedBody:
        """A file."""
        return (
            TypedBody("# notes", "text/markdown")
            if name == "notes.md"
            else TypedBody(b"\x89PNG", "image/png")
        )

    add_typed_template(server, item, "test://items/{name}", name="item", title="Item")
    async with Client(server) as client:
        templates = (await client.list_resource_templates()).resource_templates
        assert [t.uri_template for t in templates] == ["test://items/{name}"]
        (markdown,) = (await client.read_resource("test://items/notes.md")).contents
        (image,) = (await client.read_resource("test://items/chart.png")).contents
    assert isinstance(markdown, TextResourceContents)
    assert (markdown.mime_type, markdown.text) == ("text/markdown", "# notes")
    assert isinstance(image, BlobResourceContents)
    assert image.mime_type == "image/png"


class _Descriptor:
    """A stand-in for sys.stdin: `run_stdio_in_a_terminal` reads only its descriptor."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def fileno(self) -> int:
        return self._fd


async def test_stdio_in_a_terminal_serves_the_low_level_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """`run_stdio_in_a_terminal` runs the server's `_lowlevel_server` (its `run` and
    `create_initialization_options`) over `stdio_server(stdin=...)`: here stdin is a pipe's descriptor
    (read the way a terminal is) and stdout a buffer."""
    read_end, write_end = os.pipe()
    written = io.BytesIO()
    monkeypatch.setattr(sys, "stdin", _Descriptor(read_end))
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(written, encoding="utf-8"))

    async def answered() -> bool:
        return b"\n" in written.getvalue()

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(run_stdio_in_a_terminal, _server())
            os.write(write_end, json.dumps(INITIALIZE).encode() + b"\n")
            await eventually(answered)
            os.close(write_end)  # end of input (Ctrl-D): the server stops by itself
            write_end = -1
    finally:
        for fd in (read_end, write_end):
            if fd >= 0:
                os.close(fd)
    reply = json.loads(written.getvalue().splitlines()[0])
    assert reply["id"] == INITIALIZE["id"]
    assert reply["result"]["serverInfo"]["name"] == "sdk-test"
