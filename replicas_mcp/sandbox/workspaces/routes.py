"""Routes for `/v1/replica/**`: validate the request, call `Workspaces`, render the spec's shapes."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from replicas_mcp.sandbox import fidelity
from replicas_mcp.sandbox.coding_agents import PROVIDERS, THINKING_LEVELS
from replicas_mcp.sandbox.errors import bad_request, not_found
from replicas_mcp.sandbox.fidelity import Fidelity
from replicas_mcp.sandbox.http import (
    caller_of,
    expect_bool,
    expect_choice,
    expect_object,
    expect_optional_choice,
    expect_optional_str,
    expect_str,
    expect_str_list,
    is_strict,
    paginate,
    query_choice,
    query_int,
    read_object,
    require,
    respond,
)
from replicas_mcp.sandbox.launcher import LIFECYCLE_POLICIES, SIZES
from replicas_mcp.sandbox.webhooks import WebhookTarget
from replicas_mcp.sandbox.workspaces import shapes
from replicas_mcp.sandbox.workspaces.records import SOURCES, STATUSES, Replica
from replicas_mcp.sandbox.workspaces.sse import stream_events
from replicas_mcp.sandbox.workspaces.store import MessageOptions, Workspaces

API_VERSION_HEADER = "x-replicas-api-version"
FIRE_AND_FORGET_VERSION = "2026-05-17"
INCLUDES = ("environment", "diffs")
IMAGE_MEDIA_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")


def workspaces_of(request: Request) -> Workspaces:
    workspaces: Workspaces = request.state.org.workspaces
    return workspaces


def _optional_bool(body: dict[str, Any], field: str) -> bool:
    value = body.get(field)
    return False if value is None else expect_bool(value, field)


def _images(value: Any, field: str = "images") -> int:
    """Validate ImageContent attachments; returns how many there are."""
    if value is None:
        return 0
    if not isinstance(value, list):
        raise bad_request(f"Invalid field '{field}'", f"'{field}' must be a list of image objects.")
    for index, image in enumerate(value):
        where = f"{field}[{index}]"
        if (
            not isinstance(image, dict)
            or image.get("type") != "image"
            or not isinstance(image.get("source"), dict)
        ):
            raise bad_request(f"Invalid field '{where}'", 'Each image is {"type": "image", "source": {...}}.')
        source = image["source"]
        if source.get("type") == "base64":
            expect_choice(source.get("media_type"), f"{where}.source.media_type", IMAGE_MEDIA_TYPES)
            expect_str(source.get("data"), f"{where}.source.data")
        elif source.get("type") == "url":
            url = expect_str(source.get("url"), f"{where}.source.url")
            if not url.startswith(("http://", "https://")):
                raise bad_request(
                    f"Invalid field '{where}.source.url'", "The image URL must start with http(s)://."
                )
        else:
            raise bad_request(
                f"Invalid field '{where}.source.type'", "'source.type' must be 'base64' or 'url'."
            )
    return len(value)


def _webhook(value: Any) -> WebhookTarget | None:
    if value is None:
        return None
    if isinstance(value, str):
        url, secret = value, None
    elif isinstance(value, dict):
        url = expect_str(require(value, "url"), "webhook_url.url")
        secret = expect_optional_str(value.get("secret"), "webhook_url.secret")
    else:
        raise bad_request("Invalid field 'webhook_url'", "Pass a URL string or an object {url, secret}.")
    if not url.startswith(("http://", "https://")):
        raise bad_request(
            "Invalid field 'webhook_url'", "The webhook URL must start with https:// (or http://)."
        )
    return WebhookTarget(url=url, secret=secret or None)


def _message_options(body: dict[str, Any]) -> MessageOptions:
    return MessageOptions(
        plan_mode=_optional_bool(body, "plan_mode"),
        goal_mode=_optional_bool(body, "goal_mode"),
        fast_mode=_optional_bool(body, "fast_mode"),
        model=expect_optional_str(body.get("model"), "model"),
        thinking_level=expect_optional_choice(body.get("thinking_level"), "thinking_level", THINKING_LEVELS),
        image_count=_images(body.get("images")),
    )


def details(workspaces: Workspaces, replica: Replica, *, includes: set[str], strict: bool) -> dict[str, Any]:
    """ReplicaDetails; outside strict mode with the sandbox's extensions (see docs/sandbox.md)."""
    body = shapes.list_item(replica, strict=strict) | {
        "coding_agent": replica.coding_agent,
        "repository_statuses": [
            shapes.repo_status(repo, full_diff="diffs" in includes) for repo in replica.repos
        ],
        "waking": replica.waking,
        "chats": [shapes.chat_json(chat, strict=strict) for chat in replica.chats.values()],
        "environment": workspaces.config.environment_summary(replica.environment_id)
        if "environment" in includes
        else None,
    }
    if strict:
        return body
    body.update(
        model=replica.model,
        thinking_level=replica.thinking_level,
        lifecycle_policy=replica.lifecycle_policy,
        size=replica.size,
        lastChatMessage=replica.last_chat_message,
    )
    if replica.error_message is not None:
        body["error_message"] = replica.error_message
    return body


# --- handlers ----------------------------------------------------------------------------------------------


async def list_replicas(request: Request) -> Response:
    page = query_int(request, "page", default=1, minimum=1, maximum=1_000_000)
    limit = query_int(request, "limit", default=10, minimum=1, maximum=100)
    found = workspaces_of(request).matching(
        status=query_choice(request, "status", STATUSES, default=None),
        source=query_choice(request, "source", SOURCES, default=None),
        user_id=request.query_params.get("user_id") or None,
    )
    shown, total_pages = paginate(found, page=page, limit=limit)
    return respond(
        {
            "replicas": [shapes.list_item(replica, strict=is_strict(request)) for replica in shown],
            "total": len(found),
            "page": page,
            "limit": limit,
            "total_pages": total_pages,
        }
    )


async def create_replica(request: Request) -> Response:
    version = request.headers.get(API_VERSION_HEADER)
    if version is not None and version != FIRE_AND_FORGET_VERSION:
        raise bad_request(
            "Unsupported X-Replicas-Api-Version",
            f"Send {FIRE_AND_FORGET_VERSION} (returns at once), or omit the header (blocks until active).",
        )
    body = await read_object(request, non_nullable=fidelity.CREATE_REPLICA_FIELDS)
    repository_ids = body.get("repository_ids")
    workspaces = workspaces_of(request)
    replica = workspaces.create(
        name=expect_str(require(body, "name"), "name"),
        message=expect_str(require(body, "message"), "message"),
        environment_id=expect_optional_str(body.get("environment_id"), "environment_id"),
        repository_ids=None if repository_ids is None else expect_str_list(repository_ids, "repository_ids"),
        repository_set_id=expect_optional_str(body.get("repository_set_id"), "repository_set_id"),
        coding_agent=expect_optional_choice(body.get("coding_agent"), "coding_agent", PROVIDERS),
        model=expect_optional_str(body.get("model"), "model"),
        thinking_level=expect_optional_choice(body.get("thinking_level"), "thinking_level", THINKING_LEVELS),
        lifecycle_policy=expect_optional_choice(
            body.get("lifecycle_policy"), "lifecycle_policy", LIFECYCLE_POLICIES
        ),
        size=expect_optional_choice(body.get("size"), "size", SIZES),
        config=None if body.get("config") is None else expect_object(body["config"], "config"),
        webhook=_webhook(body.get("webhook_url")),
        user_id=caller_of(request).user_id,
        source="api",
        options=_message_options(body),
        caller=caller_of(request),
    )
    if version is None:
        # Legacy contract: block until the workspace is active (bounded by a generous boot budget).
        timing, clock = workspaces.timing, workspaces.clock
        await workspaces.wait_settled(replica, clock.scaled(timing.boot_seconds * 3) + 5.0)
    return respond({"replica": shapes.list_item(replica, strict=is_strict(request))}, 201)


async def get_replica(request: Request) -> Response:
    raw = request.query_params.get("include", "")
    includes = {part.strip() for part in raw.split(",") if part.strip()}
    unknown = includes - set(INCLUDES)
    if unknown:
        raise bad_request(
            "Invalid query parameter 'include'",
            f"Unknown value(s) {', '.join(sorted(unknown))}; "
            "include takes a comma-separated subset of: environment, diffs.",
        )
    workspaces = workspaces_of(request)
    replica = workspaces.get(request.path_params["id"])
    if replica.status != "error":
        workspaces.wake(replica)  # reading a sleeping replica wakes it (the spec); the body says waking: true
    return respond({"replica": details(workspaces, replica, includes=includes, strict=is_strict(request))})


async def delete_replica(request: Request) -> Response:
    workspaces_of(request).delete(request.path_params["id"])
    return respond({"success": True})


async def wake(request: Request) -> Response:
    workspaces = workspaces_of(request)
    replica = workspaces.get(request.path_params["id"])
    started = workspaces.wake(replica)
    return respond({"success": True, "waking": started or replica.waking, "status": replica.status})


async def send_message(request: Request) -> Response:
    workspaces = workspaces_of(request)
    replica = workspaces.get(request.path_params["id"])
    body = await read_object(request, non_nullable=fidelity.SEND_MESSAGE_FIELDS)
    result = workspaces.chats.send_message(
        replica,
        expect_str(require(body, "message"), "message"),
        chat_id=expect_optional_str(body.get("chat_id"), "chat_id"),
        coding_agent=expect_optional_choice(body.get("coding_agent"), "coding_agent", PROVIDERS),
        options=_message_options(body),
        sender=caller_of(request).user_id,
    )
    return respond(result)


def _readable(request: Request) -> tuple[Replica, bool]:
    """The replica for a chats or history read, and whether that read started waking it.

    Sleeping or archived: the guide answers 409; the contract (`wake_reads="contract"`) wakes it and
    answers 200 with `waking: true` from what the workspace last held.
    """
    workspaces = workspaces_of(request)
    replica = workspaces.get(request.path_params["id"])
    fidelity: Fidelity = request.state.fidelity
    if fidelity.reads_wake and replica.status in ("sleeping", "archived"):
        workspaces.wake(replica)
        return replica, True
    return workspaces.engine(replica.id), replica.waking


async def list_chats(request: Request) -> Response:
    replica, waking = _readable(request)
    strict = is_strict(request)
    return respond(
        {
            "chats": [shapes.chat_json(chat, strict=strict) for chat in replica.chats.values()],
            "waking": waking,
        }
    )


async def create_chat(request: Request) -> Response:
    workspaces = workspaces_of(request)
    replica = workspaces.engine(request.path_params["id"])
    body = await read_object(request)
    chat = workspaces.chats.create_chat(
        replica,
        provider=expect_choice(require(body, "provider"), "provider", PROVIDERS),
        title=expect_optional_str(body.get("title"), "title", max_length=200),
        parent=expect_optional_str(body.get("parentChatId"), "parentChatId"),
        client_request_id=expect_optional_str(body.get("clientRequestId"), "clientRequestId"),
    )
    return respond(shapes.chat_json(chat, strict=is_strict(request)), 201)


async def delete_chat(request: Request) -> Response:
    workspaces = workspaces_of(request)
    replica = workspaces.engine(request.path_params["id"])
    workspaces.chats.delete_chat(replica, request.path_params["chat_id"])
    return respond({"success": True})


async def get_queue(request: Request) -> Response:
    workspaces = workspaces_of(request)
    replica = workspaces.engine(request.path_params["id"])
    chat = workspaces.chats.chat(replica, request.path_params["chat_id"])
    queue = [shapes.queued_message(item) for item in chat.queue]
    return respond({"chatId": chat.id, "processing": chat.processing, "queue": queue})


async def clear_queue(request: Request) -> Response:
    workspaces = workspaces_of(request)
    replica = workspaces.engine(request.path_params["id"])
    changed = workspaces.chats.queue_clear(workspaces.chats.chat(replica, request.path_params["chat_id"]))
    return respond({"success": changed, "queue": []})


async def remove_queued(request: Request) -> Response:
    workspaces = workspaces_of(request)
    replica = workspaces.engine(request.path_params["id"])
    chat = workspaces.chats.chat(replica, request.path_params["chat_id"])
    left = workspaces.chats.queue_remove(chat, request.path_params["message_id"])
    return respond({"success": True, "queue": [shapes.queued_message(item) for item in left]})


async def reorder_queue(request: Request) -> Response:
    workspaces = workspaces_of(request)
    replica = workspaces.engine(request.path_params["id"])
    chat = workspaces.chats.chat(replica, request.path_params["chat_id"])
    body = await read_object(request)
    message_id = expect_str(require(body, "messageId"), "messageId")
    position = require(body, "position")
    if isinstance(position, bool) or not isinstance(position, int):
        raise bad_request("Invalid field 'position'", "'position' must be a zero-based integer.")
    moved = workspaces.chats.queue_reorder(chat, message_id, position)
    return respond({"success": moved, "queue": [shapes.queued_message(item) for item in chat.queue]})


async def read_history(request: Request) -> Response:
    workspaces = workspaces_of(request)
    replica, waking = _readable(request)
    limit = query_int(request, "limit", default=50, minimum=1, maximum=1000)
    offset = query_int(request, "offset", default=0, minimum=0, maximum=1_000_000)
    chat_id = request.query_params.get("chat_id") or None
    page = workspaces.chats.history(replica, chat_id=chat_id, limit=limit, offset=offset)
    # Strict: the contract's nesting, `HistoryEvent.payload` is the whole AgentEvent (which has its own
    # timestamp, type and the provider's payload); lenient: the provider's payload directly.
    events = (
        [{"timestamp": event["timestamp"], "type": event["type"], "payload": event} for event in page.events]
        if is_strict(request)
        else page.events
    )
    return respond(
        {
            "thread_id": page.thread_id,
            "events": events,
            "total": page.total,
            "has_more": page.has_more,
            "coding_agent": page.coding_agent,
            "waking": waking,
        }
    )


async def hook_logs(request: Request) -> Response:
    replica = workspaces_of(request).engine(request.path_params["id"])
    return respond(
        {
            "warm_hooks": {"logs": [dict(log) for log in replica.warm_hook_logs]},
            "start_hooks": {"logs": [dict(log) for log in replica.start_hook_logs]},
        }
    )


async def list_canvas(request: Request) -> Response:
    replica = workspaces_of(request).engine(request.path_params["id"])
    return respond({"items": [item.wire_item() for item in replica.canvas.values()]})


async def get_canvas_item(request: Request) -> Response:
    replica = workspaces_of(request).engine(request.path_params["id"])
    filename = request.path_params["filename"]
    item = replica.canvas.get(filename)
    if item is None:
        raise not_found("Canvas item", filename)
    return respond(item.wire_content())


def replica_routes() -> list[BaseRoute]:
    """Routes for `/v1/replica/**` (mount the configuration routes first: `/v1/replica/repositories`)."""
    base = "/v1/replica/{id}"
    return [
        Route("/v1/replica", list_replicas, methods=["GET"]),
        Route("/v1/replica", create_replica, methods=["POST"]),
        Route(base, get_replica, methods=["GET"]),
        Route(base, delete_replica, methods=["DELETE"]),
        Route(base + "/wake", wake, methods=["POST"]),
        Route(base + "/messages", send_message, methods=["POST"]),
        Route(base + "/chats", list_chats, methods=["GET"]),
        Route(base + "/chats", create_chat, methods=["POST"]),
        Route(base + "/chats/{chat_id}", delete_chat, methods=["DELETE"]),
        Route(base + "/chats/{chat_id}/queue", get_queue, methods=["GET"]),
        Route(base + "/chats/{chat_id}/queue", clear_queue, methods=["DELETE"]),
        Route(base + "/chats/{chat_id}/queue/reorder", reorder_queue, methods=["PATCH"]),
        Route(base + "/chats/{chat_id}/queue/{message_id}", remove_queued, methods=["DELETE"]),
        Route(base + "/history", read_history, methods=["GET"]),
        Route(base + "/hooks", hook_logs, methods=["GET"]),
        Route(base + "/canvas", list_canvas, methods=["GET"]),
        Route(base + "/canvas/{filename}", get_canvas_item, methods=["GET"]),
        Route(base + "/events", stream_events, methods=["GET"]),
    ]
