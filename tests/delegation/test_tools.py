"""The delegation tools over MCP (in-process client, server on the time-scaled sandbox)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.types import CallToolResult, TextContent

from replicas_mcp.delegation import Cursor
from replicas_mcp.sandbox.serve import RunningSandbox
from replicas_mcp.server.toolsets import delegation as tools_module

from .helpers import FAST, event_log, repo_environment, sandbox_client, server

TOOLS_LIST_BUDGET = 10 * 1024
DELEGATION_TOOLS = (
    "delegate_task",
    "wait_for_replica",
    "get_replica_result",
    "steer_replica",
    "delegate_batch",
    "wait_for_replicas",
)


@pytest.fixture(autouse=True)
def fast_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tools_module, "POLICY", FAST)


async def _call(client: Client, tool: str, /, **arguments: Any) -> dict[str, Any]:
    with anyio.fail_after(30):
        result = await client.call_tool(tool, arguments)
    assert not result.is_error, result.content
    assert result.structured_content is not None
    return dict(result.structured_content)


async def test_delegate_wait_result_steer_result(sandbox: RunningSandbox) -> None:
    async with sandbox_client(sandbox) as api, Client(server(sandbox, api)) as client:
        env = await repo_environment(api)
        task = "Add input validation [[slow:20]] [[pr]]"
        run = await _call(client, "delegate_task", environment_id=env, task=task, wait_s=0)
        rid, events, turns = run["replica_id"], run["events"], run["turns"]
        assert run["created"]
        assert not run["done"]
        calls = 0
        while not run["done"]:
            run = await _call(client, "wait_for_replica", replica_id=rid, timeout_s=1, cursor=run["cursor"])
            events, turns, calls = events + run["events"], turns + run["turns"], calls + 1
        assert calls >= 2
        assert run["state"] == "idle"
        report = await _call(client, "get_replica_result", replica_id=rid)
        assert report["outcome"] == "completed"
        assert report["repos"][0]["prs"]
        assert "untrusted-data" in report["message"]  # the agent's words come fenced
        steer = await _call(
            client,
            "steer_replica",
            replica_id=rid,
            message="Now ask me [[ask: Which status code?]]",
            mode="next",
        )
        assert steer["status"] == "sent"
        run = await _call(client, "wait_for_replica", replica_id=rid, timeout_s=10, cursor=run["cursor"])
        events, turns = events + run["events"], turns + run["turns"]
        assert run["state"] == "waiting_for_input"
        assert "Which status code?" in run["questions"][0]
        report = await _call(client, "get_replica_result", replica_id=rid)
        assert report["outcome"] == "waiting_for_input"
        assert "Which status code?" in report["questions"][0]
        log = event_log(sandbox, rid)
    assert events == log.last_seq
    assert turns == 2


async def test_a_wait_sends_progress_and_returns_within_its_timeout(sandbox: RunningSandbox) -> None:
    values: list[float] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        values.append(progress)

    async with sandbox_client(sandbox) as api, Client(server(sandbox, api)) as client:
        env = await repo_environment(api)
        run = await _call(client, "delegate_task", environment_id=env, task="Slow [[slow:600]]", wait_s=0)
        started = anyio.current_time()
        with anyio.fail_after(10):
            result = await client.call_tool(
                "wait_for_replica",
                {"replica_id": run["replica_id"], "timeout_s": 1, "cursor": run["cursor"]},
                progress_callback=on_progress,
            )
        elapsed = anyio.current_time() - started
    assert not result.is_error
    assert result.structured_content is not None
    assert result.structured_content["timed_out"]
    assert result.structured_content["state"] == "working"
    assert elapsed < 1 + 1
    assert values
    assert values == sorted(set(values))


async def test_cancelling_a_wait_closes_the_upstream_stream(sandbox: RunningSandbox) -> None:
    async with sandbox_client(sandbox) as api, Client(server(sandbox, api)) as client:
        env = await repo_environment(api)
        run = await _call(client, "delegate_task", environment_id=env, task="Slow [[slow:600]]", wait_s=0)
        log = event_log(sandbox, run["replica_id"])
        before = len(asyncio.all_tasks())
        with anyio.fail_after(10):
            with anyio.move_on_after(0.5):  # the client gives up: the SDK cancels the call
                await client.call_tool("wait_for_replica", {"replica_id": run["replica_id"], "timeout_s": 30})
            while log.subscribers:
                await anyio.sleep(0.02)
        assert len(asyncio.all_tasks()) <= before


async def test_the_same_task_twice_yields_one_replica(sandbox: RunningSandbox) -> None:
    async with sandbox_client(sandbox) as api, Client(server(sandbox, api)) as client:
        env = await repo_environment(api)
        first = await _call(client, "delegate_task", environment_id=env, task="Fix typo", wait_s=5)
        again = await _call(client, "delegate_task", environment_id=env, task="Fix typo", wait_s=5)
        named = [
            await _call(client, "delegate_task", environment_id=env, task=t, name="docs-pass", wait_s=0)
            for t in ("Write docs", "Write docs, again")
        ]
        replicas = [item async for item in api.replicas.iter()]
    assert first["created"]
    assert not again["created"]
    assert again["replica_id"] == first["replica_id"]
    assert again["done"]
    assert again["report"]
    assert "completed" in again["report"]
    assert [n["created"] for n in named] == [True, False]
    assert named[0]["replica_id"] == named[1]["replica_id"]
    assert len(replicas) == 2


async def test_batch_and_join_over_mcp(sandbox: RunningSandbox) -> None:
    async with sandbox_client(sandbox) as api, Client(server(sandbox, api)) as client:
        env = await repo_environment(api)
        tasks = [
            {"environment_id": env, "task": f"Task {n} [[slow:{4 if n == 0 else 20}]]"} for n in range(5)
        ]
        batch = await _call(client, "delegate_batch", tasks=tasks, max_parallel=5, wait_s=0)
        assert batch["started"] == 5
        assert batch["pending"] == 0
        ids = [row["replica_id"] for row in batch["tasks"]]
        cursors = [row["cursor"] for row in batch["tasks"]]
        first = await _call(
            client, "wait_for_replicas", replica_ids=ids, mode="any", timeout_s=10, cursors=cursors
        )
        assert [row["done"] for row in first["replicas"]] == [True, False, False, False, False]
        cursors = [row["cursor"] for row in first["replicas"]]
        rest = await _call(
            client, "wait_for_replicas", replica_ids=ids, mode="all", timeout_s=10, cursors=cursors
        )
    assert rest["done"] == 5
    turns = [a["turns"] + b["turns"] for a, b in zip(first["replicas"], rest["replicas"], strict=True)]
    assert turns == [1] * 5


async def test_bad_cursors_and_unknown_replicas_are_explained(sandbox: RunningSandbox) -> None:
    async with sandbox_client(sandbox) as api, Client(server(sandbox, api)) as client:
        bad = await client.call_tool("wait_for_replica", {"replica_id": "r1", "cursor": "garbage"})
        other = Cursor(replica_id="r2").encode()
        foreign = await client.call_tool("wait_for_replica", {"replica_id": "r1", "cursor": other})
        missing = await client.call_tool("get_replica_result", {"replica_id": "nope"})
    assert bad.is_error
    assert "Invalid cursor" in _text(bad)
    assert foreign.is_error
    assert "belongs to replica r2" in _text(foreign)
    assert missing.is_error
    assert "list_replicas" in _text(missing)


def _text(result: CallToolResult) -> str:
    block = result.content[0]
    assert isinstance(block, TextContent)
    return block.text


async def test_tools_list_size_of_the_default_toolset(sandbox: RunningSandbox) -> None:
    async with sandbox_client(sandbox) as api, Client(server(sandbox, api)) as client:
        listed = (await client.list_tools()).tools
    sizes = {
        tool.name: len(
            json.dumps(tool.model_dump(mode="json", by_alias=True, exclude_none=True), separators=(",", ":"))
        )
        for tool in listed
    }
    total = len(
        json.dumps(
            [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in listed],
            separators=(",", ":"),
        )
    )
    ours = sum(sizes[name] for name in DELEGATION_TOOLS)
    print(
        f"\ndefault toolset tools/list: {total} bytes ({len(listed)} tools); delegation tools: {ours} bytes"
    )
    for name, size in sizes.items():
        print(f"  {name}: {size}")
    assert [tool.name for tool in listed][: len(DELEGATION_TOOLS)] == list(DELEGATION_TOOLS)
    assert ours <= 8 * 1024, "the workflow tools' own share of the budget"
    if total > TOOLS_LIST_BUDGET:
        pytest.xfail(
            f"default toolset is {total} bytes, over the {TOOLS_LIST_BUDGET} budget: see docs/delegation.md"
        )
