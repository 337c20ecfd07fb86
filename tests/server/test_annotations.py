"""Issue 10 #6: annotations tell the truth. Only what destroys something is destructive.

Hosts that honour the hints ask the user before every destructive call, so a follow-up message annotated
destructive would have the user confirm every answer to an agent. A send appends or queues first and loses
nothing; only `mode="replace_queue"` drops queued messages, and that call alone is still confirmed.
"""

from __future__ import annotations

from replicas_mcp.sandbox.serve import RunningSandbox
from replicas_mcp.server.confirm import destructive_target

from .helpers import connect

READS = ("list_", "get_", "read_", "search_", "wait_")


async def test_only_what_destroys_something_is_destructive(sandbox: RunningSandbox) -> None:
    async with connect(sandbox, toolsets=("all",)) as client:
        tools = {tool.name: tool.annotations for tool in (await client.list_tools()).tools}
    assert tools["send_replica_message"] is not None
    assert tools["send_replica_message"].destructive_hint is False
    for name, hints in tools.items():
        assert hints is not None, name
        if name.startswith(READS):
            assert hints.read_only_hint, f"{name} only reads"
        if name.startswith(("create_", "delegate_", "trigger_")):
            assert hints.destructive_hint is False, f"{name} creates and destroys nothing"
        if name.startswith("delete_"):
            assert hints.destructive_hint, f"{name} deletes"


def test_a_send_is_confirmed_only_when_it_drops_the_queue() -> None:
    args = {"replica_id": "r-1", "message": "stop"}
    assert destructive_target("send_replica_message", {**args, "mode": "replace_queue"}, destructive=False)
    for mode in ("append", "next"):
        assert destructive_target("send_replica_message", {**args, "mode": mode}, destructive=False) is None
