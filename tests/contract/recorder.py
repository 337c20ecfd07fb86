"""An ASGI middleware (test-only) that records every `/v1/` exchange the sandbox serves."""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .openapi_contract import Exchange


class Recorder:
    """Wraps the sandbox app; `exchanges` holds each request and its answer (event streams included)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.exchanges: list[Exchange] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        request_body = bytearray()
        response: dict[str, Any] = {"status": 0, "content_type": "", "body": bytearray()}

        async def recording_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                request_body.extend(message.get("body", b""))
            return message

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                response["status"] = message["status"]
                for name, value in message.get("headers", []):
                    if name.lower() == b"content-type":
                        response["content_type"] = value.decode("latin-1")
            elif message["type"] == "http.response.body":
                response["body"].extend(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, recording_receive, recording_send)
        finally:
            self.exchanges.append(
                Exchange(
                    method=scope["method"],
                    path=scope["path"],
                    query=scope.get("query_string", b"").decode("latin-1"),
                    request_body=bytes(request_body),
                    status=response["status"],
                    content_type=response["content_type"],
                    response_body=bytes(response["body"]),
                )
            )
