"""Issue 12 #1's memory scenario, re-measured: in server-key mode, sessions each subscribe to a replica URI
and end (`DELETE`). The original attack used 10 KB ids, now refused before anything is kept; the same churn
with valid ids starts (and ends) a real watch each time. Either way the server's memory returns near where
it started: nothing of an ended session stays behind.

The issue's run was 5,000 sessions (the unfixed server kept 191 MB, about 38 KB a session); the test runs
`SESSIONS` = 2,000 of each kind (about a minute on 2 busy cores) with a bound the unfixed server would pass
by half again (+50 MB: RSS also counts the in-process sandbox and the allocator's free lists). The numbers
in SECURITY.md are from this test with `SESSIONS = 2_000`."""

from __future__ import annotations

import gc
import json
from typing import Any

import anyio
import httpx2
import psutil
import pytest

from replicas_mcp.sandbox.serve import RunningSandbox

from ..helpers import INITIALIZE
from .http_helpers import MCP_HEADERS, post_mcp
from .test_http_limits import served

SESSIONS = 2_000
CONCURRENCY = 16
RSS_BOUND = 50 * 1024 * 1024


def _subscribe(uri: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 2, "method": "resources/subscribe", "params": {"uri": uri}}


async def _churn(url: str, uris: list[str]) -> dict[str, int]:
    """Per URI: initialize a session, subscribe it to the URI, DELETE it. Counts the subscribe answers by
    outcome ("ok" or the JSON-RPC error code)."""
    answers: dict[str, int] = {}
    pending = iter(uris)

    async def one_session(http: httpx2.AsyncClient, uri: str) -> None:
        opened = await post_mcp(http, url, INITIALIZE)
        assert opened.status_code == 200, opened.text
        session = {"Mcp-Session-Id": opened.headers["mcp-session-id"], "Mcp-Protocol-Version": "2025-11-25"}
        subscribed = await post_mcp(http, url, _subscribe(uri), **session)
        body = _json_rpc(subscribed.text)
        outcome = "ok" if "result" in body else str(body["error"]["code"])
        answers[outcome] = answers.get(outcome, 0) + 1
        ended = await http.delete(f"{url}/mcp", headers={**MCP_HEADERS, **session})
        assert ended.status_code == 200, ended.text

    async def worker(http: httpx2.AsyncClient) -> None:
        for uri in pending:
            await one_session(http, uri)

    async with httpx2.AsyncClient(timeout=60) as http, anyio.create_task_group() as tasks:
        for _ in range(CONCURRENCY):
            tasks.start_soon(worker, http)
    return answers


def _json_rpc(text: str) -> dict[str, Any]:
    """The JSON-RPC message of a plain JSON or a one-event SSE answer."""
    for line in text.splitlines():
        if line.startswith("data:"):
            text = line.removeprefix("data:")
    parsed: dict[str, Any] = json.loads(text)
    return parsed


async def _growth(url: str, uris: list[str]) -> tuple[dict[str, int], int]:
    process = psutil.Process()
    await _churn(url, uris[:50])  # warm up: imports, pools, first-use caches
    gc.collect()
    start = process.memory_info().rss
    answers = await _churn(url, uris)
    await anyio.sleep(1.0)  # the watches of the last sessions wind down
    gc.collect()
    return answers, process.memory_info().rss - start


@pytest.mark.slow
async def test_sessions_subscribing_with_10kb_ids_leave_memory_near_its_start(
    sandbox: RunningSandbox,
) -> None:
    async with served(sandbox, api_key=sandbox.org_key) as url:
        uris = [f"replicas://replicas/r{n:05d}{'x' * 10_240}" for n in range(SESSIONS)]
        answers, growth = await _growth(url, uris)
    assert answers == {"-32602": SESSIONS}  # every one refused as invalid params, before anything was kept
    assert growth < RSS_BOUND, f"RSS grew {growth / 1e6:.0f} MB"
    print(f"\n10 KB ids: {SESSIONS} sessions, RSS growth {growth / 1e6:.1f} MB")


@pytest.mark.slow
async def test_sessions_subscribing_with_valid_ids_leave_memory_near_its_start(
    sandbox: RunningSandbox,
) -> None:
    async with served(sandbox, api_key=sandbox.org_key) as url:
        uris = [f"replicas://replicas/r-churn-{n:05d}" for n in range(SESSIONS)]  # each a watch, then a 404
        answers, growth = await _growth(url, uris)
    assert answers == {"ok": SESSIONS}
    assert growth < RSS_BOUND, f"RSS grew {growth / 1e6:.0f} MB"
    print(f"\nvalid ids: {SESSIONS} sessions, RSS growth {growth / 1e6:.1f} MB")
