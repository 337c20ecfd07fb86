"""Fixtures for the hardening tests: settings come only from what a test passes."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(("REPLICAS_API_KEY", "REPLICAS_BASE_URL", "REPLICAS_MCP_")):
            monkeypatch.delenv(name, raising=False)
