"""Resources: read-only views an MCP client can attach or subscribe to. Reads never wake a replica.

- `replicas://replicas` (JSON): the replicas of the organization (first 100, newest first).
- `replicas://replicas/{replica_id}` (JSON): status, PRs, and, when awake, chats and branches. Live.
- `replicas://replicas/{replica_id}/history` (text): the latest transcript (≤ 100,000 characters), fenced as
  untrusted; `…/history/{offset}` pages back (offset in events from the newest). Live.
- `replicas://replicas/{replica_id}/canvas/{filename}`: the canvas file with its own MIME type.
- `replicas://environments/{environment_id}` (JSON): the environment with all parts, secrets masked.
- `replicas://automations/{automation_id}` (JSON): the automation, webhook token withheld.
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError

from replicas_mcp.server.errors import resource_errors, sleeping_message, terminal_message
from replicas_mcp.server.hints import served, served_by
from replicas_mcp.server.liveness import ASLEEP, TERMINAL
from replicas_mcp.server.safety import CONVERSATION, fence
from replicas_mcp.server.state import AppState, app_state
from replicas_mcp.server.state.looks import look_at_chats_once
from replicas_mcp.server.tools.sdk import TypedBody, add_typed_template
from replicas_mcp.server.transcript import event_lines, fit_newest, render_events
from replicas_mcp.server.views import chat_summary, replica_summary

if TYPE_CHECKING:
    from mcp.server import MCPServer

    from replicas_mcp.client.models import ReplicaListItem

JSON = "application/json"
HISTORY_EVENTS = 100
HISTORY_MAX_CHARS = 100_000


async def _listed(state: AppState, replica_id: str) -> ReplicaListItem:
    """The replica as the list shows it now (never wakes it); an unknown id is a not-found (-32602).
    Fresh: an awake status is followed by engine reads, which would wake a workspace that just slept."""
    item = await state.client_for_caller().replicas.status(replica_id, fresh=True)
    if item is None:
        raise ResourceNotFoundError(
            "No replica with that id; see replicas://replicas"
        )  # the id is not echoed
    return item


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class StateRegistry:
    """The lifespan states alive now. Static resources get no `Context`, so they read the newest one
    (there is one per process on stdio/HTTP; in-memory clients each run their own lifespan)."""

    def __init__(self) -> None:
        self._states: list[AppState] = []

    def push(self, state: AppState) -> None:
        self._states.append(state)

    def remove(self, state: AppState) -> None:
        if state in self._states:
            self._states.remove(state)

    def current(self) -> AppState:
        if not self._states:
            raise ResourceError("The server is not running (no lifespan state).")
        return self._states[-1]


def register_resources(server: MCPServer[Any], states: StateRegistry) -> None:
    @server.resource("replicas://replicas", name="replicas", title="Replicas", mime_type=JSON)
    async def replicas() -> str:
        """The organization's replicas: id, name, status, repositories, PR links (never wakes any)."""
        state = states.current()
        with resource_errors(
            "replicas://replicas", secrets=state.secrets, adapt=served_by(state.settings).adapt
        ):
            page = await state.client_for_caller().replicas.list(limit=100)
        return _json([replica_summary(item).model_dump(exclude_none=True) for item in page.replicas])

    @server.resource(
        "replicas://replicas/{replica_id}",
        name="replica",
        title="Replica status",
        description=(
            "A replica's status and PRs, plus, when it is awake, chats (busy, asking, who wrote last), "
            "needs_input (the question it waits on) and branches; reading never wakes it. Subscribe for "
            "updates when its status or turn state changes."
        ),
        mime_type=JSON,
    )
    async def replica(replica_id: str, ctx: Context[Any, Any]) -> str:
        state = app_state(ctx)
        uri = f"replicas://replicas/{replica_id}"
        with resource_errors(uri, secrets=state.secrets, adapt=served(ctx).adapt):
            item = await _listed(state, replica_id)
            body: dict[str, Any] = replica_summary(item).model_dump(exclude_none=True)
            if item.status not in ASLEEP | TERMINAL:
                client = state.client_for_caller()
                details = await client.replicas.get(replica_id)
                looks = await look_at_chats_once(client, replica_id, details.chats, lines=event_lines)
                chats = [chat_summary(look.chat, look, replica_id) for look in looks]
                body["coding_agent"] = details.coding_agent
                # Working, not paused on a question (a paused chat stays `processing`, per the contract).
                body["busy"] = any(look.chat.processing and look.question is None for look in looks)
                body["needs_input"] = next((chat.needs_input for chat in chats if chat.needs_input), None)
                # The question is shown once (above); a chat only says whether it is the one asking.
                body["chats"] = [
                    chat.model_dump(exclude_none=True, exclude={"needs_input"})
                    | ({"asking": True} if chat.needs_input else {})
                    for chat in chats
                ]
                body["branches"] = {s.repository: s.branch for s in details.repository_statuses}
        return _json(body)

    async def history_text(replica_id: str, offset: int, ctx: Context[Any, Any]) -> str:
        state = app_state(ctx)
        with resource_errors(
            f"replicas://replicas/{replica_id}/history", secrets=state.secrets, adapt=served(ctx).adapt
        ):
            item = await _listed(state, replica_id)
            if item.status in TERMINAL:
                raise ResourceError(terminal_message(replica_id))
            if item.status in ASLEEP:
                raise ResourceError(sleeping_message(replica_id, offer_wake=False))
            page = await state.client_for_caller().history.read(
                replica_id, limit=HISTORY_EVENTS, offset=offset
            )
        rendered = render_events((ev.timestamp, ev.type, ev.payload) for ev in page.events)
        body, considered = fit_newest(rendered, HISTORY_MAX_CHARS)  # bounded like read_replica_history
        older = page.total - offset - considered
        more = (
            f"({older} older events: read replicas://replicas/{replica_id}/history/{offset + considered})\n"
            if older > 0
            else ""
        )
        return more + fence(body, f"history of replica {replica_id}", by=CONVERSATION)

    @server.resource(
        "replicas://replicas/{replica_id}/history",
        name="replica_history",
        title="Replica history",
        description=(
            "The latest part of a replica's conversation as a transcript (at most 100,000 characters; "
            "untrusted text, fenced). Live."
        ),
        mime_type="text/plain",
    )
    async def history(replica_id: str, ctx: Context[Any, Any]) -> str:
        return await history_text(replica_id, 0, ctx)

    @server.resource(
        "replicas://replicas/{replica_id}/history/{offset}",
        name="replica_history_page",
        title="Older replica history",
        description="An older part of a replica's transcript: offset counts events back from the newest.",
        mime_type="text/plain",
    )
    async def history_page(replica_id: str, offset: str, ctx: Context[Any, Any]) -> str:
        if not offset.isdigit() or len(offset) > 9:
            raise ResourceNotFoundError("the history offset is a number of events (from a history page)")
        return await history_text(replica_id, int(offset), ctx)

    async def canvas(replica_id: str, filename: str, ctx: Context[Any, Any]) -> TypedBody:
        """A canvas file of a replica, with its own MIME type (text for markdown/html, else binary)."""
        state = app_state(ctx)
        uri = f"replicas://replicas/{replica_id}/canvas/{filename}"
        where = {"replica_id": replica_id, "filename": filename}
        with resource_errors(uri, secrets=state.secrets, adapt=served(ctx).adapt, arguments=where):
            item = await _listed(state, replica_id)
            if item.status in ASLEEP | TERMINAL:
                raise ResourceError(f"{uri}: the replica is not awake; call get_replica with wake=true first")
            content = await state.client_for_caller().canvas.get(replica_id, filename)
        mime = content.mimeType or "application/octet-stream"
        if content.tooLarge:
            raise ResourceError(f"{uri}: {content.sizeBytes} bytes, over the 5 MB canvas cap; not returned")
        if content.content is not None:
            return TypedBody(content.content, mime)
        return TypedBody(base64.b64decode(content.base64 or ""), mime)

    add_typed_template(
        server,
        canvas,
        "replicas://replicas/{replica_id}/canvas/{filename}",
        name="canvas_item",
        title="Canvas file",
    )

    @server.resource(
        "replicas://environments/{environment_id}",
        name="environment",
        title="Environment",
        description=(
            "An environment with its variables (values masked), files, skills, registries, MCPs and hooks "
            "(secrets masked)."
        ),
        mime_type=JSON,
    )
    async def environment(environment_id: str, ctx: Context[Any, Any]) -> str:
        from replicas_mcp.server.toolsets.environments import environment_view

        state = app_state(ctx)
        with resource_errors(
            f"replicas://environments/{environment_id}", secrets=state.secrets, adapt=served(ctx).adapt
        ):
            view = await environment_view(
                state.client_for_caller(),
                environment_id,
                {"variables", "files", "skills", "registries", "mcps", "hooks"},
                reveal=False,
            )
        return view.to_text()

    @server.resource(
        "replicas://automations/{automation_id}", name="automation", title="Automation", mime_type=JSON
    )
    async def automation(automation_id: str, ctx: Context[Any, Any]) -> str:
        """An automation: prompt, triggers, environment, agent settings (its webhook token is withheld)."""
        from replicas_mcp.server.toolsets.automations import automation_view

        state = app_state(ctx)
        with resource_errors(
            f"replicas://automations/{automation_id}", secrets=state.secrets, adapt=served(ctx).adapt
        ):
            record = await state.client_for_caller().automations.get(automation_id)
        return automation_view(record).to_text()
