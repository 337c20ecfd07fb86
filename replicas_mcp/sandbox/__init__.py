"""An offline, stateful sandbox of the Replicas API, served over real HTTP (see docs/sandbox.md).

    from replicas_mcp.sandbox import running_sandbox
    async with running_sandbox(time_scale=0.05) as sandbox:
        ...  # sandbox.base_url, sandbox.org_key, sandbox.faults, sandbox.world

Names are imported lazily so that the sandbox's own modules can import each other without cycles.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_HOMES = {
    "create_app": "app",
    "FaultController": "faults",
    "RunningSandbox": "serve",
    "run_standalone": "serve",
    "running_sandbox": "serve",
    "DEFAULT_KEYS": "world",
    "DEFAULT_ORG_KEY": "world",
    "DEFAULT_OTHER_ORG_KEY": "world",
    "DEFAULT_PERSONAL_KEY": "world",
    "ApiKey": "world",
    "World": "world",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'replicas_mcp.sandbox' has no attribute {name!r}")
    return getattr(importlib.import_module(f"replicas_mcp.sandbox.{home}"), name)
