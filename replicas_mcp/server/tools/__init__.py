"""Tools: declared once in a toolset module, selected, wrapped and handed to the SDK.

- `declaration`: `ToolGroup.tool(...)`, the one declaration of a tool (toolset, annotations, time bound,
  confirmation question), `ToolResult`, `PendingCall`, `named` (how a question names a thing);
- `arguments`: the strict argument checks and the `Id` type;
- `selection`: toolsets and the `--toolsets/--tools/--exclude-tools/--read-only` rules;
- `confirmation`: asking the user (both protocol eras) under `--confirm-destructive`;
- `wrapper`: consent, time bound, error mapping and result shaping around every tool body;
- `schema`: pure functions shaping the published JSON schemas;
- `sdk`: the only module that touches SDK internals.

See docs/adding-a-tool.md.
"""

from replicas_mcp.server.tools.declaration import (
    TOOLSETS,
    PendingCall,
    Question,
    ToolGroup,
    ToolResult,
    ToolSpec,
    named,
)
from replicas_mcp.server.tools.selection import (
    ALL,
    SelectionError,
    ToolSelection,
    all_tools,
    select_tools,
)

__all__ = [
    "ALL",
    "TOOLSETS",
    "PendingCall",
    "Question",
    "SelectionError",
    "ToolGroup",
    "ToolResult",
    "ToolSelection",
    "ToolSpec",
    "all_tools",
    "named",
    "select_tools",
]
