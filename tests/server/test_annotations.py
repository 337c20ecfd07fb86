"""Issue 10 #6: annotations tell the truth. Only what destroys something is destructive.

Hosts that honour the hints ask the user before every destructive call, so a follow-up message annotated
destructive would have the user confirm every answer to an agent. A send appends or queues first and loses
nothing; only `mode="replace_queue"` drops queued messages, and that call alone is still confirmed.
"""

from __future__ import annotations

from replicas_mcp.sandbox.serve import RunningSandbox
from replicas_mcp.server.tools import PendingCall, all_tools

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


async def test_a_plain_or_next_send_is_never_a_question() -> None:
    """Only `replace_queue` has a question (tests/hardening/test_confirm_destructive.py asks it for real)."""
    [spec] = [spec for spec in all_tools() if spec.name == "send_replica_message"]
    assert spec.question is not None
    args = {"replica_id": "r-1", "message": "stop"}
    for mode in ("append", "next"):
        assert await spec.question(PendingCall(spec.name, {**args, "mode": mode})) is None
