"""The SSE event stream: EngineEvents with ids, heartbeats, gap-free resume, drops and the end of a stream."""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx2
import pytest

from replicas_mcp.sandbox.serve import RunningSandbox, running_sandbox

from ..helpers import assert_error
from .sandbox_helpers import (
    ENGINE_EVENT_KEYS,
    assert_shape,
    client,
    create_replica,
    read_events,
    send,
    sse_messages,
    types,
    wait_idle,
    wait_status,
)

TURN_EVENTS = [
    "chat.turn.accepted",
    "chat.turn.started",
    "chat.turn.delta",
    "chat.turn.completed",
    "chat.updated",
]


def completed(events: list[dict[str, Any]]) -> bool:
    """The turn completed and its chat reported `processing: false` afterwards."""
    kinds = types(events)
    if "chat.turn.completed" not in kinds:
        return False
    after = events[kinds.index("chat.turn.completed") :]
    return any(
        event["type"] == "chat.updated" and not event["payload"]["chat"]["processing"] for event in after
    )


async def test_a_turn_streams_the_specs_events_in_order(sandbox: RunningSandbox) -> None:
    async with client(sandbox) as api:
        replica = await create_replica(api)
        rid = replica["id"]
        await wait_idle(api, rid)

        async with anyio.create_task_group() as group:
            seen: list[dict[str, Any]] = []

            async def follow() -> None:
                seen.extend(await read_events(api, rid, until=completed))

            group.start_soon(follow)
            await anyio.sleep(0.1)  # the stream is open before the message is sent
            await send(api, rid, "Fix it [[pr]]")

        for event in seen:
            assert_shape(event, ENGINE_EVENT_KEYS)
        kinds = types(seen)
        assert set(TURN_EVENTS) | {"engine.status.changed", "repo.status.changed"} <= set(kinds)
        assert (
            kinds.index("chat.turn.accepted")
            < kinds.index("chat.turn.started")
            < kinds.index("chat.turn.completed")
        )
        deltas = [event["payload"] for event in seen if event["type"] == "chat.turn.delta"]
        assert all({"chatId", "event"} <= set(delta) for delta in deltas)
        assert {delta["event"]["type"] for delta in deltas} >= {
            "claude-user",
            "claude-assistant",
            "claude-result",
        }
        processing = [
            event["payload"]["chat"]["processing"] for event in seen if event["type"] == "chat.updated"
        ]
        assert processing[0] is True
        assert processing[-1] is False
        repo_changes = [event["payload"]["repos"] for event in seen if event["type"] == "repo.status.changed"]
        assert repo_changes[-1][0]["prUrls"]
        ids = [event["id"] for event in seen]
        assert len(ids) == len(set(ids))


@pytest.mark.parametrize("resume", ["0", "query", "ev"])
async def test_without_replay_a_resumed_stream_starts_at_the_live_end(
    sandbox: RunningSandbox, resume: str
) -> None:
    """Strict mode (the fixture's default) does not replay: neither the guide nor the contract says the API
    resumes after `Last-Event-ID` (header or query parameter), so the stream starts with new events."""
    assert not sandbox.world.fidelity.replays
    async with client(sandbox) as api:
        replica = await create_replica(api)
        rid = replica["id"]
        await wait_idle(api, rid)
        first = sandbox.world.find_replica(rid)
        assert first is not None
        log = first[1].events
        old = log.last_seq
        assert old > 2
        headers = {"Accept": "text/event-stream"}
        path = f"/v1/replica/{rid}/events"
        if resume == "query":
            path += f"?last_event_id={log.event_id(1)}"
        else:
            headers["Last-Event-ID"] = "0" if resume == "0" else log.event_id(1)
        seen: list[dict[str, Any]] = []

        async def follow() -> None:
            with anyio.fail_after(5):
                async with api.stream("GET", path, headers=headers) as response:
                    assert response.status_code == 200
                    async for line in response.aiter_lines():
                        if line.startswith("data: "):
                            seen.append(json.loads(line.removeprefix("data: ")))
                            if completed(seen):
                                return

        async with anyio.create_task_group() as group:
            group.start_soon(follow)
            await anyio.sleep(0.1)  # the stream is open before the message is sent
            await send(api, rid, "Another change")
    assert seen
    assert all((log.seq_of(event["id"]) or 0) > old for event in seen)  # nothing from before it opened


async def test_replay_is_the_lenient_default_and_a_switch_in_strict_mode() -> None:
    cases: list[tuple[bool, bool | None, bool]] = [
        (False, None, True),
        (True, None, False),
        (True, True, True),
        (False, False, False),
    ]
    for strict, replay, replays in cases:
        options = {"strict": strict, "replay": replay}
        async with running_sandbox(time_scale=0.05, strict=strict, replay=replay) as sandbox:
            assert sandbox.world.fidelity.replays is replays, options
            async with client(sandbox) as api:
                rid = (await create_replica(api))["id"]
                await wait_idle(api, rid)
                found = sandbox.world.find_replica(rid)
                assert found is not None
                first = found[1].events.event_id(1)
                if replays:
                    again = await read_events(api, rid, last_event_id=first, until=lambda got: len(got) >= 1)
                    assert again[0]["id"] == found[1].events.event_id(2)
                else:
                    with pytest.raises(TimeoutError):  # a quiet live stream: nothing to read
                        await read_events(api, rid, last_event_id=first, until=bool, timeout=0.3)


@pytest.mark.sandbox_mode(replay=True)  # an extension: docs/sandbox.md
async def test_resuming_with_last_event_id_loses_and_repeats_nothing(sandbox: RunningSandbox) -> None:
    async with client(sandbox) as api:
        replica = await create_replica(api)
        rid = replica["id"]
        await wait_idle(api, rid)
        everything = await read_events(api, rid, last_event_id="0", until=lambda events: completed(events))
        cut = len(everything) // 2
        resumed = await read_events(
            api,
            rid,
            last_event_id=everything[cut - 1]["id"],
            until=lambda events: len(events) >= len(everything) - cut,
        )
        assert [event["id"] for event in everything[:cut] + resumed] == [event["id"] for event in everything]


async def test_a_quiet_stream_sends_heartbeat_comments() -> None:
    async with running_sandbox(time_scale=0.05, heartbeat_seconds=2) as sandbox, client(sandbox) as api:
        replica = await create_replica(api)
        await wait_idle(api, replica["id"])
        text = ""
        with anyio.fail_after(5):
            async with api.stream("GET", f"/v1/replica/{replica['id']}/events") as response:
                async for chunk in response.aiter_text():
                    text += chunk
                    if text.count(": heartbeat") >= 2:
                        break
        messages = sse_messages(text)
        assert messages[0] == {"retry": "50"}  # one simulated second, scaled
        assert {":"} <= {key for message in messages for key in message}


@pytest.mark.sandbox_mode(replay=True)  # an extension: docs/sandbox.md
async def test_an_injected_drop_cuts_the_stream_and_the_client_can_resume(sandbox: RunningSandbox) -> None:
    async with client(sandbox) as api:
        replica = await create_replica(api)
        rid = replica["id"]
        await wait_idle(api, rid)
        everything = await read_events(api, rid, last_event_id="0", until=completed)

        sandbox.faults.drop_sse_after(3, replica_id=rid)
        before_cut: list[dict[str, Any]] = []

        async def read_until_cut() -> None:
            headers = {"Last-Event-ID": "0"}
            async with api.stream("GET", f"/v1/replica/{rid}/events", headers=headers) as response:
                async for line in response.aiter_lines():
                    if line.startswith("data: "):
                        before_cut.append(json.loads(line.removeprefix("data: ")))

        with anyio.fail_after(5), pytest.raises(httpx2.RemoteProtocolError):
            await read_until_cut()
        assert len(before_cut) == 3

        rest = await read_events(
            api,
            rid,
            last_event_id=before_cut[-1]["id"],
            until=lambda events: len(events) == len(everything) - 3,
        )
        assert [event["id"] for event in before_cut + rest] == [event["id"] for event in everything]


async def test_the_stream_ends_when_the_workspace_sleeps_and_then_409s(sandbox: RunningSandbox) -> None:
    async with client(sandbox) as api:
        replica = await create_replica(api)
        rid = replica["id"]
        await wait_idle(api, rid)
        state = sandbox.world.org().workspaces

        async with anyio.create_task_group() as group:
            group.start_soon(lambda: read_events(api, rid, until=lambda events: False))
            await anyio.sleep(0.1)
            state.force_status(state.get(rid), "sleeping")  # the open stream ends by itself
        await wait_status(api, rid, "sleeping")
        assert_error(await api.get(f"/v1/replica/{rid}/events"), 409, "Workspace is sleeping")
        assert_error(await api.get("/v1/replica/00000000-0000-4000-8000-000000000000/events"), 404)
