"""Attacker review 4, #13: an HTTP server acting with its own key and no bearer token (allowed on loopback)
says at start, in one line, that any local user or process can act with that key, and how to set a token."""

from __future__ import annotations

import logging
import os

import anyio
import pytest

from replicas_mcp.config import Settings
from replicas_mcp.sandbox.serve import RunningSandbox
from replicas_mcp.sandbox.world import DEFAULT_ORG_KEY
from replicas_mcp.server.http_app import warn_without_token

from .test_http_deadlines import cli_server

TOKEN = "tok_no_token_test_" + "0123456789abcdef" * 2
WARNING = "no HTTP token: any local user or process"


def _warning_lines(stderr: list[bytes]) -> list[str]:
    return [line.decode() for line in stderr if WARNING.encode() in line]


@pytest.mark.slow
async def test_a_loopback_server_key_server_without_a_token_warns_once(sandbox: RunningSandbox) -> None:
    upstream = {"REPLICAS_API_KEY": DEFAULT_ORG_KEY, "REPLICAS_BASE_URL": sandbox.base_url}
    async with cli_server(env=upstream, sandbox=False) as (_, stderr):
        await anyio.sleep(0)
    lines = _warning_lines(stderr)
    assert len(lines) == 1, b"".join(stderr).decode()
    assert "REPLICAS_MCP_HTTP_TOKEN" in lines[0]
    assert "Authorization: Bearer <token>" in lines[0]
    assert DEFAULT_ORG_KEY not in b"".join(stderr).decode()

    async with cli_server(env={**upstream, "REPLICAS_MCP_HTTP_TOKEN": TOKEN}, sandbox=False) as (_, stderr):
        await anyio.sleep(0)
    assert _warning_lines(stderr) == []
    assert TOKEN not in b"".join(stderr).decode()


def test_only_the_server_key_without_a_token_is_warned_about(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [name for name in os.environ if name.startswith("REPLICAS_")]:
        monkeypatch.delenv(name)  # the settings below are these, whatever the shell has
    cases = [
        (Settings(transport="http"), False, True),
        (Settings(transport="http", host="::1"), False, True),
        (Settings(transport="http", http_token=TOKEN), False, False),
        (Settings(transport="http", auth="byo-key"), False, False),  # callers bring their own keys
        (Settings(transport="http"), True, False),  # the embedded sandbox's key is a throwaway
        (Settings(transport="stdio"), False, False),  # one local client launched it
    ]
    for settings, sandbox, warned in cases:
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            warn_without_token(settings, sandbox)
        assert any(WARNING in record.getMessage() for record in caplog.records) == warned, settings
