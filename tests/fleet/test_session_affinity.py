"""Session ids carry their instance's name outward and lose it inward (server/affinity.py)."""

from __future__ import annotations

from starlette.types import Message, Receive, Scope, Send

from replicas_mcp.server.affinity import SessionAffinityMiddleware


async def _through(middleware_app: SessionAffinityMiddleware, headers: list[tuple[bytes, bytes]]) -> Message:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {"type": "http", "method": "POST", "path": "/mcp", "headers": headers}
    await middleware_app(scope, receive, send)
    return sent[0]


async def test_the_session_id_names_the_instance_outward_and_is_plain_inward() -> None:
    seen: list[bytes | None] = []

    async def sdk(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(dict(scope["headers"]).get(b"mcp-session-id"))
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"mcp-session-id", b"abc123")]}
        )
        await send({"type": "http.response.body", "body": b""})

    app = SessionAffinityMiddleware(sdk, "mcp2")
    started = await _through(app, [])
    assert dict(started["headers"])[b"mcp-session-id"] == b"mcp2.abc123"
    await _through(app, [(b"mcp-session-id", b"mcp2.abc123")])
    assert seen == [None, b"abc123"]
