"""What a model reads when its arguments are wrong: what to fix, never the value it sent.

The SDK shows a pydantic ValidationError's text to the model. Pydantic's own text echoes the input (which
may be a secret, e.g. an oversized environment variable) and links to its docs; ours does neither.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from mcp import Client

from replicas_mcp.client import ReplicasClient
from replicas_mcp.config import Settings
from replicas_mcp.sandbox.serve import RunningSandbox
from replicas_mcp.server import build_server

SECRET = "pg-password-Zq81xVv"


@asynccontextmanager
async def _connected(sandbox: RunningSandbox) -> AsyncIterator[tuple[ReplicasClient, Client]]:
    """The API client and an MCP client of a server with every toolset, both on the sandbox."""
    settings = Settings(api_key=sandbox.org_key, base_url=sandbox.base_url, toolsets="all")
    async with (
        ReplicasClient(api_key=sandbox.org_key, base_url=sandbox.base_url) as api,
        Client(build_server(settings, client=api)) as mcp,
    ):
        yield api, mcp


async def _errors(sandbox: RunningSandbox, calls: list[tuple[str, dict[str, Any]]]) -> list[str]:
    texts: list[str] = []
    async with _connected(sandbox) as (_, mcp):
        for name, arguments in calls:
            with anyio.fail_after(10):
                result = await mcp.call_tool(name, arguments)
            assert result.is_error, f"{name}({arguments!r:.80}) was accepted"
            texts.append(result.content[0].text)  # type: ignore[union-attr]
    return texts


async def test_a_rejected_secret_is_not_echoed_back(sandbox: RunningSandbox) -> None:
    oversized = SECRET * 5000
    [text] = await _errors(
        sandbox,
        [
            (
                "set_environment_item",
                {"environment_id": "global", "kind": "variable", "name": "DB", "value": oversized},
            )
        ],
    )
    assert SECRET not in text
    assert "64 KB" in text


async def test_errors_say_what_to_fix_without_values_or_links(sandbox: RunningSandbox) -> None:
    texts = await _errors(
        sandbox,
        [
            ("create_replica", {"name": "fix login bug", "message": "go", "environment_id": "global"}),
            ("list_replicas", {"limit": 1000}),
            ("get_replica", {}),
            ("get_replica", {"replica_id": "../etc"}),
        ],
    )
    whitespace, too_many, missing, traversal = texts
    assert "Must not contain whitespace" in whitespace
    assert "fix login bug" not in whitespace
    assert "less than or equal to 100" in too_many
    assert "replica_id" in missing
    assert "required" in missing
    assert "is not an id" in traversal
    for text in texts:
        assert "input_value" not in text
        assert "errors.pydantic.dev" not in text


async def test_text_arguments_are_not_parsed_as_json(sandbox: RunningSandbox) -> None:
    """The SDK JSON-parses strings for non-`str` fields; names and ids stay exactly as sent."""
    [text] = await _errors(
        sandbox, [("delegate_task", {"environment_id": "global", "task": "x", "name": "null "})]
    )
    assert "name" in text
    assert "whitespace" in text
    async with _connected(sandbox) as (api, mcp):
        with anyio.fail_after(10):
            created = await mcp.call_tool(
                "create_replica", {"name": "null", "message": "go", "environment_id": "global"}
            )
            assert not created.is_error, created.content
            found = await api.replicas.find_by_name("null")
    assert found is not None


async def test_a_secret_passed_where_an_id_name_or_filename_goes_is_not_echoed(
    sandbox: RunningSandbox,
) -> None:
    # A model steered into passing a key as an id (with "Bearer ", a path, a space): the shape checks refuse
    # it, and their text must not quote it back (it quoted the first 40 characters: most of a key).
    key = sandbox.org_key
    texts = await _errors(
        sandbox,
        [
            ("get_replica", {"replica_id": f"Bearer {key}"}),
            ("get_replica", {"replica_id": f"{key}/x"}),
            ("create_chat", {"replica_id": "r-1", "provider": "claude", "title": f" {key}"}),
            ("read_canvas_item", {"replica_id": "r-1", "filename": f"../{key}"}),
        ],
    )
    for text in texts:
        assert key not in text, text
        assert key[4:16] not in text, text
