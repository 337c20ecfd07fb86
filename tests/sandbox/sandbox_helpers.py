"""Helpers for the sandbox's tests: clients, polling, SSE reading and the documented response shapes."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import anyio
import httpx2

from replicas_mcp.sandbox.serve import RunningSandbox

from ..helpers import eventually

FIRE_AND_FORGET = {"X-Replicas-Api-Version": "2026-05-17"}

# Required keys of the spec's objects (written from the OpenAPI document, not generated from it).
LIST_ITEM_KEYS = {
    "id",
    "name",
    "status",
    "source",
    "created_at",
    "last_activity_at",
    "repositories",
    "pull_requests",
}
DETAILS_KEYS = LIST_ITEM_KEYS | {"coding_agent", "repository_statuses", "waking", "chats", "environment"}
REPOSITORY_STATUS_KEYS = {
    "repository",
    "branch",
    "default_branch",
    "pr_urls",
    "start_hooks_completed",
    "git_diff",
}
CHAT_KEYS = {"id", "provider", "title", "created_at", "updated_at", "processing"}
SEND_RESULT_KEYS = {"status", "message_id", "position", "chat_id"}
QUEUE_KEYS = {"chatId", "processing", "queue"}
QUEUED_MESSAGE_KEYS = {"id", "message", "queuedAt"}
QUEUE_MUTATION_KEYS = {"success", "queue"}
HISTORY_KEYS = {"thread_id", "events", "total", "has_more"}
HISTORY_EVENT_KEYS = {"timestamp", "type", "payload"}
CANVAS_ITEM_KEYS = {"filename", "kind", "sizeBytes"}
CANVAS_CONTENT_KEYS = CANVAS_ITEM_KEYS | {"mimeType"}
START_HOOK_LOG_KEYS = {
    "hookType",
    "hookName",
    "repoName",
    "hookCommands",
    "output",
    "outputTruncated",
    "outputTotalChars",
    "exitCode",
    "timedOut",
    "executedAt",
}
WARM_HOOK_LOG_KEYS = (START_HOOK_LOG_KEYS - {"repoName", "hookCommands"}) | {"hookScript"}
ENGINE_EVENT_KEYS = {"id", "ts", "type", "payload"}


def assert_shape(value: Any, required: set[str]) -> None:
    assert isinstance(value, dict), f"expected an object, got {value!r}"
    missing = required - set(value)
    assert not missing, f"missing keys {sorted(missing)} in {sorted(value)}"


def client(sandbox: RunningSandbox, key: str | None = None, **kwargs: Any) -> httpx2.AsyncClient:
    headers = {"Authorization": f"Bearer {key or sandbox.org_key}"}
    return httpx2.AsyncClient(base_url=sandbox.base_url, headers=headers, timeout=10.0, **kwargs)


async def environment_id(api: httpx2.AsyncClient, *, bound: bool = True) -> str:
    """A team environment bound to a repository (the first seeded one), or the Global environment."""
    response = await api.get("/v1/environments")
    assert response.status_code == 200, response.text
    environments = response.json()["environments"]
    for environment in environments:
        if bound and environment.get("repository_id"):
            return str(environment["id"])
    return "global"


async def create_replica(
    api: httpx2.AsyncClient,
    *,
    name: str = "fix-auth-bug",
    message: str = "Fix the login timeout",
    **fields: Any,
) -> dict[str, Any]:
    """Create a replica fire-and-forget (it comes back `preparing`) and return the list item."""
    body = {"name": name, "message": message, **fields}
    body.setdefault("environment_id", await environment_id(api))
    response = await api.post("/v1/replica", json=body, headers=FIRE_AND_FORGET)
    assert response.status_code == 201, response.text
    replica: dict[str, Any] = response.json()["replica"]
    return replica


async def details(api: httpx2.AsyncClient, replica_id: str, **params: str) -> dict[str, Any]:
    response = await api.get(f"/v1/replica/{replica_id}", params=params)
    assert response.status_code == 200, response.text
    replica: dict[str, Any] = response.json()["replica"]
    return replica


async def list_item(api: httpx2.AsyncClient, replica_id: str) -> dict[str, Any] | None:
    """The replica as the list shows it (reading the list never wakes anything)."""
    response = await api.get("/v1/replica", params={"limit": 100})
    assert response.status_code == 200, response.text
    for item in response.json()["replicas"]:
        if item["id"] == replica_id:
            return dict(item)
    return None


async def wait_status(api: httpx2.AsyncClient, replica_id: str, status: str, *, timeout: float = 5.0) -> None:
    async def reached() -> bool:
        item = await list_item(api, replica_id)
        return item is not None and item["status"] == status

    await eventually(reached, timeout=timeout)


async def wait_idle(
    api: httpx2.AsyncClient, replica_id: str, *, turns: int = 1, timeout: float = 5.0
) -> None:
    """Wait until the replica is active, nothing is processing, and `turns` assistant replies exist."""

    async def idle() -> bool:
        item = await list_item(api, replica_id)
        if item is None or item["status"] != "active":
            return False
        replica = await details(api, replica_id)
        if any(chat["processing"] for chat in replica["chats"]):
            return False
        history = (await api.get(f"/v1/replica/{replica_id}/history", params={"limit": 1000})).json()
        replies = [event for event in history["events"] if event["type"] == "claude-result"]
        return len(replies) >= turns

    await eventually(idle, timeout=timeout)


async def send(api: httpx2.AsyncClient, replica_id: str, message: str, **fields: Any) -> dict[str, Any]:
    response = await api.post(f"/v1/replica/{replica_id}/messages", json={"message": message, **fields})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    assert_shape(result, SEND_RESULT_KEYS)
    return result


def sse_messages(text: str) -> list[dict[str, str]]:
    """Parse SSE text into messages: each a dict of its fields (`id`, `data`, ... ; comments as `:`)."""
    messages = []
    for block in text.split("\n\n"):
        if not block.strip():
            continue
        fields: dict[str, str] = {}
        for line in block.split("\n"):
            name, _, value = line.partition(":")
            fields[name or ":"] = value.removeprefix(" ")
        messages.append(fields)
    return messages


async def read_events(
    api: httpx2.AsyncClient,
    replica_id: str,
    *,
    until: Callable[[list[dict[str, Any]]], bool],
    last_event_id: str | None = None,
    timeout: float = 5.0,
) -> list[dict[str, Any]]:
    """Read the event stream until `until(events)` holds; returns the EngineEvents (with their SSE ids)."""
    headers = {"Accept": "text/event-stream"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    events: list[dict[str, Any]] = []
    with anyio.fail_after(timeout):
        async with api.stream("GET", f"/v1/replica/{replica_id}/events", headers=headers) as response:
            assert response.status_code == 200, await response.aread()
            assert response.headers["content-type"].startswith("text/event-stream")
            buffer = ""
            async for chunk in response.aiter_text():
                buffer += chunk
                *complete, buffer = buffer.split("\n\n")
                for message in sse_messages("\n\n".join(complete)):
                    if "data" in message:
                        event = json.loads(message["data"])
                        assert event["id"] == message["id"]
                        events.append(event)
                if until(events):
                    return events
    return events


def types(events: Sequence[Mapping[str, Any]]) -> list[str]:
    return [str(event["type"]) for event in events]


def flat_history(body: Mapping[str, Any]) -> dict[str, Any]:
    """A history answer with each event's provider payload directly in `payload`. The strict sandbox nests
    it as the contract does (`HistoryEvent.payload` is the whole AgentEvent: timestamp, type, payload);
    the lenient one does not. Asserts the nesting matches the event it wraps."""
    events = []
    for event in body.get("events", []):
        inner = event.get("payload")
        if (
            isinstance(inner, dict)
            and inner.get("type") == event["type"]
            and isinstance(inner.get("payload"), dict)
        ):
            assert inner.get("timestamp") == event.get("timestamp")
            event = {**event, "payload": inner["payload"]}
        events.append(event)
    return {**body, "events": events}
