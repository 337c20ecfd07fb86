"""Fixtures for the server tests: a clean environment (settings come only from what a test passes)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "REPLICAS_API_KEY",
        "REPLICAS_BASE_URL",
        "REPLICAS_MCP_TOOLSETS",
        "REPLICAS_MCP_TOOLS",
        "REPLICAS_MCP_EXCLUDE_TOOLS",
        "REPLICAS_MCP_READ_ONLY",
        "REPLICAS_MCP_TRANSPORT",
        "REPLICAS_MCP_HOST",
        "REPLICAS_MCP_PORT",
    ):
        monkeypatch.delenv(name, raising=False)
