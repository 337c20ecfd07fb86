"""`GET /v1/replica/{id}/events`: the engine event stream as Server-Sent Events.

Each event is `id: <event id>` + `data: <EngineEvent JSON>`; a `: heartbeat` comment is sent when the
stream is quiet for the (scaled) heartbeat interval. The stream starts with new events only. With replay
(an extension, off in strict mode: neither document promises it; `Fidelity.replays`), a client that
reconnects with `Last-Event-ID` (header, or `last_event_id` query parameter) gets every buffered event
after that id, so it loses and repeats nothing; `Last-Event-ID: 0` replays the whole buffer.
The stream ends when the workspace sleeps, fails or is deleted.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response

from replicas_mcp.sandbox.faults import DroppedConnection, FaultController
from replicas_mcp.sandbox.http import sse_response
from replicas_mcp.sandbox.workspaces.events import EventLog
from replicas_mcp.sandbox.workspaces.records import Replica
from replicas_mcp.sandbox.workspaces.store import Workspaces

EVENTS_ROUTE = "/v1/replica/{id}/events"


async def stream_events(request: Request) -> Response:
    workspaces: Workspaces = request.state.org.workspaces
    faults: FaultController = request.state.faults
    replica = workspaces.engine(request.path_params["id"])
    resume = request.headers.get("last-event-id") or request.query_params.get("last_event_id")
    after = EventLog.seq_of(resume) if workspaces.fidelity.replays else None
    if after is None:
        after = replica.events.last_seq
    drop = faults.take("sse_drop", "GET", EVENTS_ROUTE, replica_id=replica.id)
    drop_after = None if drop is None else drop.after_events
    heartbeat = workspaces.clock.scaled(workspaces.timing.heartbeat_seconds)
    retry_ms = max(50, int(workspaces.clock.scaled(1.0) * 1000))
    return sse_response(
        _frames(replica, after, heartbeat=heartbeat, retry_ms=retry_ms, drop_after=drop_after)
    )


async def _frames(
    replica: Replica, after: int, *, heartbeat: float, retry_ms: int, drop_after: int | None
) -> AsyncIterator[bytes]:
    yield f"retry: {retry_ms}\n\n".encode()
    sent = 0
    async for event in replica.events.follow(after, heartbeat=heartbeat):
        if drop_after is not None and sent >= drop_after:
            raise DroppedConnection(
                f"event stream of {replica.id} dropped after {sent} events (fault injection)"
            )
        if event is None:
            yield b": heartbeat\n\n"
            continue
        data = json.dumps(event.wire(), separators=(",", ":"))
        yield f"id: {event.id}\ndata: {data}\n\n".encode()
        sent += 1
