"""Hosted HTTP: the static bearer token, `--auth byo-key` (isolation, session binding, no header forwarding),
`--stateless`, and the refusal to expose the server's key beyond loopback."""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.types import TextContent

from replicas_mcp.cli import main
from replicas_mcp.config import is_loopback
from replicas_mcp.sandbox.serve import RunningSandbox
from replicas_mcp.sandbox.world import DEFAULT_ORG_KEY, DEFAULT_OTHER_ORG_KEY
from replicas_mcp.server.auth import HttpExposureError, check_http_exposure

from ..helpers import INITIALIZE
from .helpers import upstream_requests
from .http_helpers import http_server, mcp_client, post_mcp, recorded_sandbox

TOKEN = "t0ken-" + "a1b2c3d4" * 4


async def _structured(client: Client, tool: str, arguments: dict[str, Any] | None = None) -> dict[str, Any]:
    with anyio.fail_after(20):
        result = await client.call_tool(tool, arguments or {})
    assert not result.is_error, [b.text for b in result.content if isinstance(b, TextContent)]
    return dict(result.structured_content or {})


async def _post(url: str, body: dict[str, Any], **headers: str) -> httpx2.Response:
    async with httpx2.AsyncClient(timeout=10) as http:
        return await post_mcp(http, url, body, **headers)


# --- server-key mode: the static bearer token ------------------------------------------------------------


async def test_the_http_token_guards_mcp_and_only_mcp(sandbox: RunningSandbox) -> None:
    async with http_server(sandbox, api_key=DEFAULT_ORG_KEY, http_token=TOKEN) as (url, _server):
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
            response = await _post(url, INITIALIZE, **headers)
            assert response.status_code == 401
            assert TOKEN not in response.text
        assert upstream_requests(sandbox) == 0
        async with mcp_client(url, bearer=TOKEN) as client:
            assert "replicas" in await _structured(client, "list_replicas")
        async with httpx2.AsyncClient() as http:  # other routes are not behind the token
            assert (await http.get(f"{url}/healthz")).status_code in (200, 404)


def test_the_server_key_is_never_exposed_beyond_loopback_without_a_token() -> None:
    for host in ("127.0.0.1", "localhost", "::1", "[::1]", "127.8.9.10"):
        assert is_loopback(host)
        check_http_exposure(host, "server-key", None)
    for host in ("0.0.0.0", "10.0.0.5", "mcp.example.com", "::"):
        assert not is_loopback(host)
        with pytest.raises(HttpExposureError, match="http-token"):
            check_http_exposure(host, "server-key", None)
        check_http_exposure(host, "server-key", TOKEN)
        check_http_exposure(host, "byo-key", None)  # callers bring their own keys
    with pytest.raises(HttpExposureError, match="at least"):
        check_http_exposure("0.0.0.0", "server-key", "short")


def test_the_cli_refuses_to_serve_the_key_to_the_network(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REPLICAS_API_KEY", DEFAULT_ORG_KEY)
    argv = [
        "--transport",
        "http",
        "--host",
        "0.0.0.0",
        "--allowed-hosts",
        "mcp.example",
        "--allowed-origins",
        "https://a.example",
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "--http-token" in err
    assert DEFAULT_ORG_KEY not in err


# --- byo-key mode ------------------------------------------------------------------------------------------


async def test_byo_key_callers_only_ever_see_their_own_organization() -> None:
    async with recorded_sandbox() as (sandbox, recorder), http_server(sandbox, auth="byo-key") as (url, _):
        envs: dict[str, str] = {}
        names = {DEFAULT_ORG_KEY: "acme-work", DEFAULT_OTHER_ORG_KEY: "globex-work"}

        async def user(key: str) -> None:
            async with mcp_client(
                url, bearer=key, X_Forwarded_For="10.9.8.7", Cookie="session=stolen"
            ) as client:
                listed = await _structured(client, "list_environments")
                env = next(e["id"] for e in listed["environments"] if e.get("repository_id"))
                envs[key] = env
                await _structured(
                    client, "create_replica", {"name": names[key], "message": "Fix it", "environment_id": env}
                )
                seen = {r["name"] for r in (await _structured(client, "list_replicas"))["replicas"]}
                assert seen == {names[key]}, f"{names[key]} saw {seen}"

        async with anyio.create_task_group() as tasks:  # two users at once
            tasks.start_soon(user, DEFAULT_ORG_KEY)
            tasks.start_soon(user, DEFAULT_OTHER_ORG_KEY)
        assert envs[DEFAULT_ORG_KEY] != envs[DEFAULT_OTHER_ORG_KEY]

        # Upstream, each request carried exactly one caller's key and none of the caller's other headers.
        assert recorder.seen
        for headers in recorder.seen:
            assert headers["authorization"] in (
                f"Bearer {DEFAULT_ORG_KEY}",
                f"Bearer {DEFAULT_OTHER_ORG_KEY}",
            )
            assert "cookie" not in headers
            assert "x-forwarded-for" not in headers
            assert "stolen" not in json.dumps(headers)


async def test_byo_key_rejects_missing_and_malformed_keys_before_any_upstream_call(
    sandbox: RunningSandbox,
) -> None:
    async with http_server(sandbox, auth="byo-key") as (url, _):
        for headers in (
            {},
            {"Authorization": "Bearer not-a-replicas-key"},
            {"Authorization": "Bearer sk_replicas_"},
        ):
            response = await _post(url, INITIALIZE, **headers)
            assert response.status_code == 401
            assert "www-authenticate" in response.headers
        assert upstream_requests(sandbox) == 0
        # A well-formed key the API does not know: checked upstream once, then 401 from the cached verdict;
        # no session is ever created for it.
        for _ in range(3):
            response = await _post(url, INITIALIZE, Authorization="Bearer sk_replicas_unknown_key_0000")
            assert response.status_code == 401
            assert "mcp-session-id" not in response.headers
            assert "sk_replicas_unknown_key_0000" not in response.text
        assert upstream_requests(sandbox) == 1


async def test_a_session_is_bound_to_the_key_that_opened_it(sandbox: RunningSandbox) -> None:
    async with http_server(sandbox, auth="byo-key") as (url, _):
        opened = await _post(url, INITIALIZE, Authorization=f"Bearer {DEFAULT_ORG_KEY}")
        assert opened.status_code == 200
        session = opened.headers["mcp-session-id"]
        listing = {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}
        stolen = await _post(
            url, listing, **{"Authorization": f"Bearer {DEFAULT_OTHER_ORG_KEY}", "Mcp-Session-Id": session}
        )
        assert stolen.status_code == 404
        unknown = await _post(
            url, listing, **{"Authorization": f"Bearer {DEFAULT_ORG_KEY}", "Mcp-Session-Id": "nope"}
        )
        assert unknown.status_code == 404
        own = await _post(
            url,
            {"jsonrpc": "2.0", "method": "notifications/initialized"},
            **{
                "Authorization": f"Bearer {DEFAULT_ORG_KEY}",
                "Mcp-Session-Id": session,
                "Mcp-Protocol-Version": "2025-11-25",
            },
        )
        assert own.status_code == 202


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_byo_key_in_both_eras_over_legacy_sessions_and_stateless(
    sandbox: RunningSandbox, mode: str
) -> None:
    for stateless in (False, True):
        async with (
            http_server(sandbox, auth="byo-key", stateless=stateless) as (url, _),
            mcp_client(url, bearer=DEFAULT_OTHER_ORG_KEY, mode=mode) as client,
        ):
            envs = (await _structured(client, "list_environments"))["environments"]
            assert envs


# --- stateless -------------------------------------------------------------------------------------------


async def test_stateless_http_keeps_no_session(sandbox: RunningSandbox) -> None:
    async with http_server(sandbox, api_key=DEFAULT_ORG_KEY, stateless=True) as (url, _):
        response = await _post(url, INITIALIZE)
        assert response.status_code == 200
        assert "mcp-session-id" not in response.headers
        for mode in ("auto", "legacy"):
            async with mcp_client(url, mode=mode) as client:
                assert "replicas" in await _structured(client, "list_replicas")


async def test_outside_a_request_a_byo_key_server_acts_with_no_key_at_all() -> None:
    """`client_of` resolves the caller's key from the request; with none, it raises rather than fall back to
    the pool's placeholder or any other caller's key. A server-key server acts with its own client."""
    from typing import cast

    from replicas_mcp.client import ReplicasClient
    from replicas_mcp.client.errors import ConfigurationError
    from replicas_mcp.config import Settings
    from replicas_mcp.server.state import AppState
    from replicas_mcp.server.watcher import ReplicaWatcher

    no_watcher = cast("ReplicaWatcher", None)  # resolving a client never touches the watcher
    async with ReplicasClient(api_key=DEFAULT_ORG_KEY, base_url="http://127.0.0.1:9") as api:
        byo = AppState(client=api, settings=Settings(auth="byo-key"), watcher=no_watcher)
        with pytest.raises(ConfigurationError, match="byo-key"):
            byo.client_for_caller()
        own = AppState(client=api, settings=Settings(api_key=DEFAULT_ORG_KEY), watcher=no_watcher)
        assert own.client_for_caller() is api
