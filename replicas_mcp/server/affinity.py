"""Session affinity for a fleet: 2025-era session ids carry the name of the instance that holds them.

A legacy (≤ 2025-11-25) MCP session lives in the memory of the instance that answered `initialize`; its
later requests must reach that instance. With `--instance-name mcp1`, the `Mcp-Session-Id` this instance
hands out reads `mcp1.<the SDK's id>`, so the load balancer routes on the prefix (a `map` in
deploy/nginx/replicas-mcp.conf) and needs no session table of its own. On the way in, the prefix is
taken off again, so everything inside (the SDK's session manager, byo-key session binding) sees the ids
it issued. 2026-07-28 requests carry no session id and pass untouched.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from replicas_mcp.server.http_guards import SESSION_HEADER


class SessionAffinityMiddleware:
    def __init__(self, app: ASGIApp, instance_name: str) -> None:
        self._app = app
        self._prefix = f"{instance_name}.".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        headers = [
            (name, value.removeprefix(self._prefix) if name == SESSION_HEADER else value)
            for name, value in scope.get("headers", ())
        ]

        async def prefixing_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = dict(message)
                message["headers"] = [
                    (name, self._prefix + value if name.lower() == SESSION_HEADER and value else value)
                    for name, value in message.get("headers", ())
                ]
            await send(message)

        await self._app({**scope, "headers": headers}, receive, prefixing_send)
