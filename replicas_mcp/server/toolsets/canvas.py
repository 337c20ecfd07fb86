"""The canvas: files the agent drops into ~/.replicas/canvas/ (reports, screenshots, diagrams)."""

from __future__ import annotations

from typing import Annotated

from mcp.types import (
    AudioContent,
    BlobResourceContents,
    CallToolResult,
    ContentBlock,
    EmbeddedResource,
    ImageContent,
    TextContent,
)
from pydantic import BaseModel, Field

from replicas_mcp.server.args import ReplicaId, Wake, may_wake
from replicas_mcp.server.liveness import ensure_awake
from replicas_mcp.server.paging import DEFAULT_MAX_CHARS, MaxChars, Offset, page_text
from replicas_mcp.server.safety import clean_name, fence
from replicas_mcp.server.state import ToolContext, client_of
from replicas_mcp.server.tools import ToolGroup, ToolResult

tools = ToolGroup("canvas")

# Binary items above this size are described instead of embedded: they would flood the model's context.
MAX_EMBEDDED_BYTES = 1_000_000
TEXT_KINDS = frozenset({"markdown", "html"})

Filename = Annotated[str, Field(min_length=1, description="From list_canvas_items")]


class CanvasEntry(BaseModel):
    filename: str
    kind: str
    size_bytes: int


class CanvasList(ToolResult):
    replica_id: str
    items: list[CanvasEntry]


class CanvasItemView(BaseModel):
    filename: str
    kind: str
    size_bytes: int
    mime_type: str | None = None
    delivered: str  # "text", "image", "audio", "blob" or "none"
    note: str | None = None
    next_offset: int | None = None


def canvas_uri(replica_id: str, filename: str) -> str:
    return f"replicas://replicas/{replica_id}/canvas/{filename}"


@tools.tool(title="List canvas items", read_only=True)
async def list_canvas_items(ctx: ToolContext, replica_id: ReplicaId, wake: Wake = False) -> CanvasList:
    """Files the agent put in the replica's canvas (reports, screenshots). Next: read_canvas_item."""
    client = client_of(ctx)
    await ensure_awake(client, replica_id, wake=may_wake(ctx, wake))
    items = await client.canvas.list(replica_id)
    return CanvasList(
        replica_id=replica_id,
        items=[
            CanvasEntry(filename=clean_name(i.filename), kind=i.kind, size_bytes=i.sizeBytes) for i in items
        ],
    )


@tools.tool(title="Read canvas item", read_only=True)
async def read_canvas_item(
    ctx: ToolContext,
    replica_id: ReplicaId,
    filename: Filename,
    max_chars: MaxChars = DEFAULT_MAX_CHARS,
    offset: Offset = 0,
    wake: Wake = False,
) -> Annotated[CallToolResult, CanvasItemView]:
    """View a canvas file: images as images, markdown/html as paged text, other small files embedded.
    Files over the 5 MB cap are not returned."""
    client = client_of(ctx)
    await ensure_awake(client, replica_id, wake=may_wake(ctx, wake))
    item = await client.canvas.get(replica_id, filename)
    # Shown in notes and the fence's source: the name the agent chose, on one line (`filename` is the
    # caller's copy of it, checked for shape, but only the agent's characters were ever its source).
    shown = clean_name(filename)
    view = CanvasItemView(
        filename=clean_name(item.filename),
        kind=item.kind,
        size_bytes=item.sizeBytes,
        mime_type=item.mimeType,
        delivered="none",
    )
    content: list[ContentBlock] = []
    mime = (item.mimeType or "application/octet-stream").split(";")[0].strip()
    if item.tooLarge:
        view.note = (
            f"{shown} is {item.sizeBytes} bytes, over the canvas's 5 MB per-file cap: the API does not "
            "return its content. Open it from the Replicas dashboard instead."
        )
    elif item.kind in TEXT_KINDS or item.content is not None:
        part = page_text(item.content or "", offset, max_chars)
        view.delivered, view.next_offset = "text", part.next_offset
        text = fence(part.text, f"canvas file {shown} of replica {replica_id}")
        hint = part.hint("read_canvas_item")
        content.append(TextContent(type="text", text=f"{text}\n{hint}" if hint else text))
    elif item.base64 is None:
        view.note = f"{shown} has no content to show."
    elif item.sizeBytes > MAX_EMBEDDED_BYTES:
        view.note = (
            f"{shown} ({item.kind}, {item.sizeBytes} bytes) is too big to embed; "
            f"read the resource {canvas_uri(replica_id, filename)} to download it."
        )
    elif item.kind == "image" or mime.startswith("image/"):
        view.delivered = "image"
        content.append(ImageContent(type="image", data=item.base64, mime_type=mime))
    elif item.kind == "audio" or mime.startswith("audio/"):
        view.delivered = "audio"
        content.append(AudioContent(type="audio", data=item.base64, mime_type=mime))
    else:
        view.delivered = "blob"
        blob = BlobResourceContents(uri=canvas_uri(replica_id, filename), mime_type=mime, blob=item.base64)
        content.append(EmbeddedResource(type="resource", resource=blob))
    if view.note:
        content.append(TextContent(type="text", text=view.note))
    elif view.delivered != "text":
        content.append(TextContent(type="text", text=f"{shown}: {item.kind}, {mime}, {item.sizeBytes} bytes"))
    return CallToolResult(content=content, structured_content=view.model_dump(mode="json", exclude_none=True))
