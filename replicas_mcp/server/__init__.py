"""The MCP server: curated tools in toolsets, live resources and prompts over the Replicas client.

`build_server(settings, client=None) -> MCPServer`; see `app.py`. Tools are declared in
`toolsets/<name>.py` through `registry.ToolGroup` (the registry's docstring shows how to add one).
"""

from __future__ import annotations

from replicas_mcp.server.app import build_server

__all__ = ["build_server"]
