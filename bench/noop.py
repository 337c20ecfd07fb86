"""The SDK's own floor: an MCPServer with one tool that answers like get_replica without any API call.

Rows built on it (in-memory, stdio, HTTP) measure what the MCP SDK and the transport cost by themselves,
so a gap can be split into "SDK/transport" (not ours to fix) and "our server" (tool, guard, upstream).
The canned result has the shape and size of a real get_replica result.
"""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server import MCPServer
from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel

CANNED: dict[str, Any] = {
    "id": "cd613e30-d8f1-4adf-91b7-584a2265b1f5",
    "name": "bench-0",
    "status": "active",
    "coding_agent": "claude",
    "repos": [
        {
            "name": "acme/api",
            "branch": "replicas/bench-0",
            "prs": ["https://github.com/acme/api/pull/101"],
            "added": 12,
            "removed": 3,
        }
    ],
    "chats": [{"id": "3f0b8f5e-1c1d-4c55-9f0e-6b2f1a7c9d10", "provider": "claude", "busy": False}],
}


class Repo(BaseModel):
    name: str
    branch: str | None = None
    prs: list[str] = []
    added: int | None = None
    removed: int | None = None


class Chat(BaseModel):
    id: str
    provider: str
    busy: bool


class View(BaseModel):
    id: str
    name: str
    status: str
    coding_agent: str | None = None
    repos: list[Repo] = []
    chats: list[Chat] = []


def build_noop_server() -> MCPServer[Any]:
    server: MCPServer[Any] = MCPServer("noop", log_level="WARNING")
    view = View.model_validate(CANNED)

    async def get_replica(replica_id: str) -> Annotated[CallToolResult, View]:
        """Canned replica view (no API call)."""
        return CallToolResult(
            content=[TextContent(type="text", text=view.model_dump_json(exclude_none=True))],
            structured_content=view.model_dump(mode="json", exclude_none=True),
        )

    server.add_tool(get_replica, name="get_replica")
    return server
