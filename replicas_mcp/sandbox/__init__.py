"""An offline, stateful sandbox of the Replicas API, served over real HTTP (see docs/sandbox.md).

    from replicas_mcp.sandbox import running_sandbox
    async with running_sandbox(time_scale=0.05) as sandbox:
        ...  # sandbox.base_url, sandbox.org_key, sandbox.faults, sandbox.world

Laid out by domain: `workspaces/` (replicas, chats, turns), `environments/` (repositories, environments
and their parts), `automations/` (automations and their runs), each as records, store and routes; shared
`http`, `faults`, `clock`, `ids`, `webhooks`, `fidelity` (strict mode); `world` (all state), `app` (the
ASGI app), `serve` (serving it), `control` (the `/_sandbox/` routes).
"""

from __future__ import annotations

from replicas_mcp.sandbox.app import create_app
from replicas_mcp.sandbox.faults import FaultController
from replicas_mcp.sandbox.serve import RunningSandbox, run_standalone, running_sandbox
from replicas_mcp.sandbox.world import (
    DEFAULT_KEYS,
    DEFAULT_ORG_KEY,
    DEFAULT_OTHER_ORG_KEY,
    DEFAULT_PERSONAL_KEY,
    ApiKey,
    World,
)

__all__ = [
    "DEFAULT_KEYS",
    "DEFAULT_ORG_KEY",
    "DEFAULT_OTHER_ORG_KEY",
    "DEFAULT_PERSONAL_KEY",
    "ApiKey",
    "FaultController",
    "RunningSandbox",
    "World",
    "create_app",
    "run_standalone",
    "running_sandbox",
]
