"""Issue 12 #2, #9, #13 over real HTTP: sessions per caller, keys checked upstream once, exact Host matching,
byo-key metadata, the access log, and a bounded shutdown that returns a wait's cursor."""

from __future__ import annotations

import json
import signal
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import anyio
import httpx2
import psutil
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from replicas_mcp.cli import _transport_security
from replicas_mcp.client import ReplicasClient
from replicas_mcp.config import Settings
from replicas_mcp.sandbox.serve import RunningSandbox, serving
from replicas_mcp.sandbox.world import DEFAULT_ORG_KEY, DEFAULT_OTHER_ORG_KEY
from replicas_mcp.server import build_server
from replicas_mcp.server.http_app import http_app
from replicas_mcp.server.http_guards import MAX_SESSIONS_PER_CALLER, host_matches, origin_matches

from ..helpers import INITIALIZE
from .http_helpers import MCP_HEADERS, cli_http_server, post_mcp


@asynccontextmanager
async def served(sandbox: RunningSandbox, **fields: Any) -> AsyncIterator[str]:
    """The MCP server as the CLI serves it (http_app: guards, exact Host matching) on a free port."""
    settings = Settings(transport="http", base_url=sandbox.base_url, toolsets=("all",), **fields)
    async with AsyncExitStack() as stack:
        key = settings.api_key.get_secret_value() if settings.api_key else "no-key"
        api = await stack.enter_async_context(ReplicasClient(api_key=key, base_url=sandbox.base_url))
        server = build_server(settings, api)
        app = http_app(server, settings, _transport_security(settings))
        yield await stack.enter_async_context(serving(app))


def _fake_key(n: int) -> str:
    return f"sk_replicas_fake{n:08d}xyz"


async def test_one_key_holds_a_bounded_number_of_sessions(sandbox: RunningSandbox) -> None:
    async with served(sandbox, auth="byo-key") as url, httpx2.AsyncClient(timeout=30) as http:
        sessions = []
        for _ in range(MAX_SESSIONS_PER_CALLER):
            opened = await post_mcp(http, url, INITIALIZE, Authorization=f"Bearer {DEFAULT_ORG_KEY}")
            assert opened.status_code == 200
            sessions.append(opened.headers["mcp-session-id"])
        refused = await post_mcp(http, url, INITIALIZE, Authorization=f"Bearer {DEFAULT_ORG_KEY}")
        assert refused.status_code == 429
        assert "Too many open sessions for this API key" in refused.json()["error"]["message"]
        listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
        sessionless = await post_mcp(http, url, listing, Authorization=f"Bearer {DEFAULT_ORG_KEY}")
        assert sessionless.status_code != 429  # only a new session is refused; the request reaches the SDK
        other = await post_mcp(http, url, INITIALIZE, Authorization=f"Bearer {DEFAULT_OTHER_ORG_KEY}")
        assert other.status_code == 200  # another caller is unaffected
        ended = await http.delete(
            f"{url}/mcp",
            headers={
                **MCP_HEADERS,
                "Authorization": f"Bearer {DEFAULT_ORG_KEY}",
                "Mcp-Session-Id": sessions[0],
            },
        )
        assert ended.status_code == 200
        again = await post_mcp(http, url, INITIALIZE, Authorization=f"Bearer {DEFAULT_ORG_KEY}")
        assert again.status_code == 200


@pytest.mark.slow
async def test_ten_thousand_fake_keys_leave_a_real_client_able_to_connect(sandbox: RunningSandbox) -> None:
    process = psutil.Process()
    async with served(sandbox, auth="byo-key") as url:
        async with httpx2.AsyncClient(timeout=60) as http:
            await post_mcp(http, url, INITIALIZE, Authorization=f"Bearer {_fake_key(-1)}")  # warm up
            start_rss = process.memory_info().rss
            statuses: dict[int, int] = {}
            sent = iter(range(10_000))

            async def caller() -> None:
                for n in sent:
                    response = await post_mcp(http, url, INITIALIZE, Authorization=f"Bearer {_fake_key(n)}")
                    statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

            async with anyio.create_task_group() as tasks:
                for _ in range(16):
                    tasks.start_soon(caller)
        # None made a session: each of the first few cost one upstream check (401), then this address's
        # budget of new keys was spent and the rest were refused before any upstream call (429).
        assert set(statuses) == {401, 429}, statuses
        assert sum(statuses.values()) == 10_000
        assert statuses[429] > statuses[401]
        growth = process.memory_info().rss - start_rss
        assert growth < 100 * 1024 * 1024, f"RSS grew {growth / 1e6:.0f} MB"
        # A real caller with a key never seen, from another address (that budget is per address).
        headers = {"Authorization": f"Bearer {DEFAULT_ORG_KEY}"}
        elsewhere = httpx2.AsyncHTTPTransport(local_address="127.0.0.2")
        async with (
            httpx2.AsyncClient(headers=headers, timeout=30, transport=elsewhere) as http,
            Client(streamable_http_client(f"{url}/mcp", http_client=http), mode="legacy") as client,
        ):
            assert (await client.call_tool("list_replicas", {})).is_error is False


@pytest.mark.parametrize(
    ("host", "accepted"),
    [
        ("127.0.0.1:8000", True),
        ("localhost:8000", True),
        ("localhost", True),
        ("[::1]:8000", True),
        ("localhost:@evil.com", False),
        ("localhost:8000@evil.com", False),
        ("localhost.evil.com:8000", False),
        ("localhost:80:80", False),
        ("evil.com", False),
        ("", False),
    ],
)
def test_host_matching_is_exact(host: str, accepted: bool) -> None:
    assert host_matches(host, ["127.0.0.1:*", "localhost:*", "[::1]:*"]) is accepted


def test_origin_matching_is_exact() -> None:
    allowed = ["http://localhost:*", "https://app.example.com"]
    assert origin_matches("http://localhost:5173", allowed)
    assert origin_matches("https://app.example.com", allowed)
    assert not origin_matches("http://localhost:@evil.com", allowed)
    assert not origin_matches("https://localhost:5173", allowed)
    assert not origin_matches("https://app.example.com.evil.com", allowed)


async def test_a_forged_host_header_is_refused_over_http(sandbox: RunningSandbox) -> None:
    async with served(sandbox, api_key=sandbox.org_key) as url, httpx2.AsyncClient(timeout=30) as http:
        assert (await post_mcp(http, url, INITIALIZE)).status_code == 200
        forged = await post_mcp(http, url, INITIALIZE, Host="localhost:@evil.com")
        assert forged.status_code == 421
        bad_origin = await post_mcp(http, url, INITIALIZE, Origin="http://localhost:@evil.com")
        assert bad_origin.status_code == 403


async def test_a_host_without_a_port_is_admitted_by_a_name_star_pattern_in_both_checks(
    sandbox: RunningSandbox,
) -> None:
    # Behind TLS on 443 a proxy may pass `Host: name` with no port: `name:*` admits it in our exact check,
    # and the SDK's own check must agree (it used to answer 421 unless the bare name was listed too).
    async with served(sandbox, api_key=sandbox.org_key) as url, httpx2.AsyncClient(timeout=30) as http:
        assert (await post_mcp(http, url, INITIALIZE, Host="localhost")).status_code == 200
        assert (await post_mcp(http, url, INITIALIZE, Host="evil.com")).status_code == 421


async def test_byo_key_metadata_names_no_authorization_server(sandbox: RunningSandbox) -> None:
    async with served(sandbox, auth="byo-key") as url, httpx2.AsyncClient(timeout=30) as http:
        unauthenticated = await post_mcp(http, url, INITIALIZE)
        assert unauthenticated.status_code == 401
        challenge = unauthenticated.headers["www-authenticate"]
        assert sandbox.base_url not in challenge
        assert "resource_metadata" not in challenge
        for path in ("/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"):
            metadata = await http.get(f"{url}{path}")
            assert metadata.status_code == 404
            assert sandbox.base_url not in metadata.text


# --- the CLI's HTTP server as a subprocess ----------------------------------------------------------------


@pytest.mark.slow
async def test_the_access_log_keeps_its_lines_at_info() -> None:
    async with cli_http_server("--log-level", "info") as (url, process, stderr):
        async with httpx2.AsyncClient(timeout=30) as http:
            assert (await http.get(f"{url}/healthz?token=sk_replicas_secret123456")).status_code == 200
        await anyio.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        await anyio.to_thread.run_sync(lambda: process.wait(timeout=20))
    text = b"".join(stderr).decode()
    assert "Logging error" not in text
    access = [line for line in text.splitlines() if "GET /healthz" in line]
    assert access, text
    assert '" 200' in access[0]
    assert "sk_replicas_secret123456" not in text


@pytest.mark.slow
async def test_shutdown_is_bounded_and_a_wait_in_flight_returns_its_cursor() -> None:
    async with (
        cli_http_server("--toolsets", "replicas") as (url, process, stderr),
        httpx2.AsyncClient(timeout=60) as http,
        Client(streamable_http_client(f"{url}/mcp", http_client=http), mode="legacy") as client,
    ):
        envs = (await client.call_tool("list_environments", {})).structured_content or {}
        environment = next(e["id"] for e in envs["environments"] if e.get("repository_id"))
        started = await client.call_tool(
            "delegate_task",
            {"environment_id": environment, "task": "Refactor slowly [[slow:120]]", "wait_s": 0},
        )
        assert not started.is_error, started.content
        replica_id = _replica_ids(started.structured_content or {})[0]
        outcome: dict[str, Any] = {}

        async def wait() -> None:
            result = await client.call_tool("wait_for_replica", {"replica_id": replica_id, "timeout_s": 55})
            outcome["result"] = result

        async with anyio.create_task_group() as tasks:
            tasks.start_soon(wait)
            await anyio.sleep(2)
            process.send_signal(signal.SIGTERM)
            with anyio.fail_after(60):  # a hang guard only: how fast it stops is bench/'s business
                await anyio.to_thread.run_sync(process.wait)
            with anyio.fail_after(60):
                while "result" not in outcome:
                    await anyio.sleep(0.05)
    # It stopped as a SIGTERM'd process does once shut down cleanly (uvicorn re-raises the signal), after
    # telling the wait to wrap up; the wait answered with its cursor instead of being cut off by the grace.
    assert process.returncode == -signal.SIGTERM
    logged = b"".join(stderr).decode()
    assert "shutting down: 1 wait(s) in flight return within 1 s" in logged
    assert "Traceback" not in logged
    result = outcome["result"]
    assert not result.is_error, result.content
    assert "cursor" in json.dumps(result.structured_content)


def _replica_ids(value: Any) -> list[str]:
    """Every `replica_id` (or replica `id`) in a structured result, in order."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("replica_id",) and isinstance(item, str):
                found.append(item)
            else:
                found += _replica_ids(item)
    elif isinstance(value, list):
        for item in value:
            found += _replica_ids(item)
    return found
