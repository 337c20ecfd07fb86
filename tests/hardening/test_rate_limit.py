"""`--rate-limit` covers every request that reaches the API (attacker review s4 #12): resource reads,
prompts, completions and listen streams count in the caller's budget with tool calls; the list requests
(answered in process) do not, and another caller keeps its own budget."""

from __future__ import annotations

import pytest
from mcp.shared.exceptions import MCPError
from mcp.types import PromptReference

from replicas_mcp.sandbox.world import DEFAULT_ORG_KEY, DEFAULT_OTHER_ORG_KEY

from .http_helpers import http_server, mcp_client, recorded_sandbox

LIMIT = 4


async def test_reads_prompts_completions_and_listens_share_the_tool_budget() -> None:
    async with (
        recorded_sandbox() as (sandbox, recorder),
        http_server(sandbox, auth="byo-key", rate_limit=LIMIT) as (url, _),
        mcp_client(url, bearer=DEFAULT_ORG_KEY) as client,
        mcp_client(url, bearer=DEFAULT_OTHER_ORG_KEY) as other,
    ):
        prompt = PromptReference(name="delegate_coding_task")
        await client.read_resource("replicas://replicas")  # 1
        await client.get_prompt("delegate_coding_task", {"environment": "api", "task": "Fix it"})  # 2
        await client.complete(prompt, {"name": "environment", "value": ""})  # 3
        async with client.listen(tools_list_changed=True):  # 4
            pass
        for _ in range(3):  # answered in process: not counted
            await client.list_tools()
            await client.list_resources()
            await client.list_prompts()
        before = len(recorder.requests)
        refusals = []
        for attempt in (
            lambda: client.read_resource("replicas://replicas"),
            lambda: client.complete(prompt, {"name": "environment", "value": ""}),
            lambda: client.get_prompt("delegate_coding_task", {"environment": "api", "task": "Fix it"}),
        ):
            with pytest.raises(MCPError) as refused:
                await attempt()
            refusals.append(str(refused.value))
        with pytest.raises(MCPError) as listen_refused:
            async with client.listen(tools_list_changed=True):
                pass
        refusals.append(str(listen_refused.value))
        tool = await client.call_tool("list_replicas", {})
        assert tool.is_error  # the tools' budget is the same one
        refusals.append(" ".join(getattr(block, "text", "") for block in tool.content))
        for message in refusals:
            assert f"Rate limit reached: this server allows {LIMIT} requests per minute per caller" in message
            assert "Retry in" in message
        assert len(recorder.requests) == before  # nothing refused reached the API
        await other.read_resource("replicas://replicas")  # another caller has its own budget
