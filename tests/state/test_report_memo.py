"""A report just returned is reused until an event that can change it arrives (`unless_changed`).

The stream's version counts only events that can change a hand-off report: the engine's status snapshot
that trails every turn's end (and a preview port, a chat renamed) does not, so `get_replica_result` right
after the `delegate_task` that returned the report costs nothing even when such an event arrived while the
report was being built. Everything else does.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import pytest

from replicas_mcp.client.models import EngineEvent
from replicas_mcp.delegation.feeds import EventFeed
from replicas_mcp.sandbox.serve import RunningSandbox
from replicas_mcp.sandbox.workspaces import shapes
from replicas_mcp.server.state.streams import CHAT_FACTS
from replicas_mcp.server.state.view import unless_changed

from .helpers import Watching, watching


async def _active_replica(sandbox: RunningSandbox, seen: Watching) -> Any:
    created = await seen.client.replicas.create(
        name="memo", message="Fix the login bug", environment_id="global"
    )
    found = sandbox.world.find_replica(created.id)
    assert found is not None
    replica = found[1]
    with anyio.fail_after(10):
        while not (replica.status == "active" and replica.turns_completed >= 1):
            await anyio.sleep(0.02)
    return replica


@dataclass
class _Live:
    """An active replica with the caller's shared stream of it open, as the server holds it."""

    seen: Watching
    replica: Any
    chat: Any
    feed: EventFeed

    async def publish(self, event_type: str, payload: dict[str, Any]) -> None:
        """Send an event, and return once the shared stream has handed it over (the hub has counted it)."""
        event = self.replica.events.publish(event_type, payload)
        with anyio.fail_after(5):
            async for got in self.feed:
                if isinstance(got, EngineEvent) and got.id == event.id:
                    return

    def version(self) -> object | None:
        streams = self.seen.client.streams
        assert streams is not None
        return streams.version(self.seen.client.caller, self.replica.id)


@asynccontextmanager
async def _live(sandbox: RunningSandbox) -> AsyncIterator[_Live]:
    async with watching(sandbox, poll=5.0) as seen:
        replica = await _active_replica(sandbox, seen)
        async with seen.client.shared_stream(replica.id, after=None) as feed:
            yield _Live(seen, replica, next(iter(replica.chats.values())), feed)


def _summary(chat: Any, **changes: Any) -> dict[str, Any]:
    return {"chat": {**shapes.chat_summary(chat), **changes}}


class _Builds:
    def __init__(self) -> None:
        self.count = 0

    async def __call__(self) -> str:
        self.count += 1
        return f"report {self.count}"


@pytest.mark.parametrize(
    ("event_type", "payload_of", "rebuilt"),
    [
        ("engine.status.changed", lambda r, chat: {"status": {"uptimeSeconds": 1, "chatsTotal": 1}}, False),
        ("preview.changed", lambda r, chat: {"previews": []}, False),
        ("chat.updated", lambda r, chat: _summary(chat, title="Renamed"), False),
        ("chat.updated", lambda r, chat: _summary(chat, processing=True), True),
        ("chat.updated", lambda r, chat: _summary(chat, awaitingInput=True), True),
        ("repo.status.changed", lambda r, chat: {"repos": []}, True),
        ("chat.turn.started", lambda r, chat: {"chatId": chat.id, "messageId": "m-9"}, True),
        ("hooks.failed", lambda r, chat: {"running": False, "completed": True}, True),
        ("error", lambda r, chat: {"code": "x", "message": "boom"}, True),
        ("some.future.event", lambda r, chat: {}, True),
    ],
    ids=[
        "engine-snapshot",
        "preview",
        "chat-renamed",
        "chat-busy",
        "chat-asking",
        "repo",
        "turn",
        "hooks",
        "error",
        "unknown-type",
    ],
)
async def test_a_remembered_report_is_rebuilt_only_after_an_event_that_can_change_it(
    sandbox: RunningSandbox, event_type: str, payload_of: Any, rebuilt: bool
) -> None:
    build = _Builds()
    async with _live(sandbox) as live:
        client, rid = live.seen.client, live.replica.id
        # The chat's current summary first: the hub compares later summaries of the chat with it.
        await live.publish("chat.updated", _summary(live.chat))
        assert await unless_changed(client, rid, "report", build) == "report 1"
        assert await unless_changed(client, rid, "report", build) == "report 1"

        await live.publish(event_type, payload_of(live.replica, live.chat))

        again = await unless_changed(client, rid, "report", build)
    assert again == ("report 2" if rebuilt else "report 1")


async def test_a_chat_summary_counts_once_per_change_of_what_a_report_reads(sandbox: RunningSandbox) -> None:
    async with _live(sandbox) as live:
        first = live.version()
        await live.publish("chat.updated", _summary(live.chat))
        known = live.version()
        assert known != first  # the chat's first summary on this stream: nothing to compare it with
        await live.publish("chat.updated", _summary(live.chat, title="T"))
        assert live.version() == known
        await live.publish("chat.updated", _summary(live.chat, processing=True))
        assert live.version() != known


async def test_the_chat_summaries_a_stream_keeps_are_bounded(sandbox: RunningSandbox) -> None:
    """A stream that names ever more chats keeps the last summary of the `CHAT_FACTS` most recent only; a
    chat dropped from them counts its next summary as a change (a report is rebuilt, never wrong)."""
    async with _live(sandbox) as live:
        await live.publish("chat.updated", _summary(live.chat))
        for index in range(CHAT_FACTS):
            await live.publish("chat.updated", _summary(live.chat, id=f"other-{index}"))
        before = live.version()
        await live.publish("chat.updated", _summary(live.chat))
        assert live.version() != before  # the first chat was dropped
        kept = live.version()
        await live.publish("chat.updated", _summary(live.chat, id=f"other-{CHAT_FACTS - 1}"))
        assert live.version() == kept  # a recent one was kept
