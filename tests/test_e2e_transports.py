"""`replicas-mcp --sandbox` as a subprocess, over stdio and Streamable HTTP: create → message → history."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client, StdioServerParameters
from mcp.types import TextContent

pytestmark = pytest.mark.slow


async def _delegate(client: Client) -> str:
    """create_replica → wait → send_replica_message → wait → read_replica_history; returns the transcript."""
    envs = (await client.call_tool("list_environments", {})).structured_content or {}
    env = next(e["id"] for e in envs["environments"] if e.get("repository_id"))
    created = await client.call_tool(
        "create_replica", {"name": "e2e-fix", "message": "Fix the flaky test", "environment_id": env}
    )
    assert not created.is_error, created.content
    replica_id = (created.structured_content or {})["id"]

    async def idle() -> bool:
        view = (await client.call_tool("get_replica", {"replica_id": replica_id})).structured_content or {}
        chats: list[dict[str, Any]] = view.get("chats", [])
        return view.get("status") == "active" and bool(chats) and not any(c.get("processing") for c in chats)

    async def wait_idle() -> None:
        with anyio.fail_after(60):
            while not await idle():
                await anyio.sleep(0.2)

    await wait_idle()
    sent = await client.call_tool(
        "send_replica_message", {"replica_id": replica_id, "message": "Add a test too"}
    )
    assert not sent.is_error, sent.content
    await wait_idle()
    history = await client.call_tool("read_replica_history", {"replica_id": replica_id})
    assert not history.is_error
    block = history.content[0]
    assert isinstance(block, TextContent)
    return block.text


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("REPLICAS_")}


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_stdio_sandbox(mode: str) -> None:
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "replicas_mcp", "--sandbox"], env=_env()
    )
    with anyio.fail_after(90):
        async with Client(params, mode=mode) as client:
            transcript = await _delegate(client)
    assert "Fix the flaky test" in transcript
    assert "Add a test too" in transcript


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_http_sandbox() -> None:
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "replicas_mcp", "--sandbox", "--transport", "http", "--port", str(port)],
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        async with httpx2.AsyncClient(base_url=base) as http:
            with anyio.fail_after(30):
                while True:
                    try:
                        if (await http.get("/healthz")).status_code == 200:
                            break
                    except httpx2.TransportError:
                        pass
                    await anyio.sleep(0.1)
            bad_host = await http.post("/mcp", json={}, headers={"Host": "evil.example"})
            assert bad_host.status_code == 421
        with anyio.fail_after(90):
            async with Client(f"{base}/mcp") as client:
                transcript = await _delegate(client)
        assert "Add a test too" in transcript
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stderr:
            process.stderr.close()


def test_missing_key_exits_2() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "replicas_mcp"], env=_env(), capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert "REPLICAS_API_KEY" in result.stderr
