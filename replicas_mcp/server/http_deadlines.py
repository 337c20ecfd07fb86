"""What an HTTP client may hold before its request is in: a deadline and a cap on connections.

uvicorn (0.55) has no deadline for receiving a request: its keep-alive timer only runs between requests and
is cancelled by the first byte of the next one, so a request whose headers never finish, or whose body
never completes, holds its socket (and a descriptor) forever, before any authentication. Its
`limit_concurrency` answers 503 only once a request's headers are complete, so half-sent requests never
meet it either.

`GuardedH11` is the server's h11 protocol (`http_send.OneSendPerResponse`) with:
- a request deadline: from the moment a connection waits for a request (when it opens, and when a response
  ends) until that request's headers and body are all in. Past it, the client is answered 408 (or, when it
  sent nothing, or a response was already given, the connection is closed) and the app's `receive()`
  reports a disconnect. Only receiving is bounded: once a request is in, its response (an SSE stream of
  progress, a wait's result, a `subscriptions/listen` stream) lasts as long as it needs. Time the server
  itself holds the body back (flow control while the app is busy, `Expect: 100-continue` not yet answered)
  does not count against the client.
- a connection cap: a connection opened while `max_connections` are open is answered 503 at once and
  closed, so descriptors stay bounded however many half-sent requests arrive.

`EndQuietlyMidBody` (ASGI) ends the app quietly when a request's body stops arriving (its deadline passed,
or the client left): the SDK would log a traceback for each ("Error handling POST request"), which would
make every held request a log-flooding lever as well.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import anyio
import h11
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from replicas_mcp.server.http_send import OneSendPerResponse

logger = logging.getLogger(__name__)

# A refused connection is read (and what it sends dropped) this long after its 503, or until it closes:
# closing a socket with unread input resets it, and a reset can destroy the answer before the client reads.
REFUSAL_LINGER = 2.0
# At most one "refusing connections" log line per this many seconds: a flood must not flood the log too.
REFUSAL_LOG_EVERY = 60.0
# Descriptors kept free beside the HTTP connections: upstream streams and requests, Redis, log files.
SPARE_DESCRIPTORS = 512

_REFUSED = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: 37\r\nretry-after: 1\r\nconnection: close\r\n\r\n"
    b"Too many open connections; try again."
)


def _timed_out(seconds: float) -> bytes:
    body = f"The request did not arrive within {seconds:g} s.".encode()
    head = (
        "HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


class _Refusal(asyncio.Protocol):
    """A connection past the cap: 503 and end-of-stream at once, input dropped, closed after the linger."""

    def __init__(self) -> None:
        self._closer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(_REFUSED)
        if transport.can_write_eof():
            transport.write_eof()
        self._closer = asyncio.get_running_loop().call_later(REFUSAL_LINGER, transport.close)

    def data_received(self, data: bytes) -> None:
        pass

    def eof_received(self) -> bool:
        return False  # the client is done too: the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        if self._closer is not None:
            self._closer.cancel()


class GuardedH11(OneSendPerResponse):
    """The h11 protocol with a request deadline and a connection cap (see the module). `guarded_h11` sets
    the two numbers on a subclass, since uvicorn builds each connection's protocol from the class."""

    request_timeout: float = 30.0
    max_connections: int = 1000
    _last_refusal_log = 0.0

    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self.max_connections:
            self._log_refusal()
            refusal = _Refusal()
            transport.set_protocol(refusal)
            refusal.connection_made(transport)
            return
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        # A response given before its request's body was in (a 401, a 413): when that body ends, the next
        # request's wait begins here rather than in `on_response_complete`.
        late_body = self.conn.our_state is h11.DONE and self.conn.their_state is h11.SEND_BODY
        super().data_received(data)
        if late_body and self.conn.their_state is h11.IDLE:
            self._arm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()  # the next request (or the rest of this one's body) has its own deadline

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.request_timeout, self._expired)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        their = self.conn.their_state
        if self.transport.is_closing() or their not in (h11.IDLE, h11.SEND_BODY):
            return  # the request is in: its response runs as long as it needs
        cycle = self.cycle if their is h11.SEND_BODY else None
        if cycle is not None and (self.flow.read_paused or cycle.waiting_for_100_continue):
            self._arm()  # the server is holding the body back, not the client
            return
        started = bytes(self.conn.trailing_data[0]) != b"" or cycle is not None
        if started and (cycle is None or not cycle.response_started):
            self.transport.write(_timed_out(self.request_timeout))
        if cycle is not None:  # the app's receive() reports a disconnect; its later sends are dropped
            cycle.disconnected = True
            cycle.message_event.set()
        self.transport.close()

    @classmethod
    def _log_refusal(cls) -> None:
        now = time.monotonic()
        if now - GuardedH11._last_refusal_log >= REFUSAL_LOG_EVERY:
            GuardedH11._last_refusal_log = now
            logger.warning(
                "refusing HTTP connections (503): %d are open, the cap (--http-max-connections)",
                cls.max_connections,
            )


def guarded_h11(request_timeout: float, max_connections: int) -> type[GuardedH11]:
    """The protocol class uvicorn is given (`Config(http=...)`), with these bounds."""
    attributes: dict[str, Any] = {
        "request_timeout": request_timeout,
        "max_connections": fitted_connections(max_connections),
    }
    return type("GuardedH11", (GuardedH11,), attributes)


def fitted_connections(wanted: int) -> int:
    """The connection cap the descriptor limit allows: the soft limit is raised (up to the hard one) to hold
    `wanted` connections plus `SPARE_DESCRIPTORS`; if it cannot be, the cap shrinks to fit, with a warning,
    so the cap refuses cleanly before `accept` starts failing."""
    try:
        import resource
    except ImportError:  # Windows: no such limit to fit
        return wanted
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = wanted + SPARE_DESCRIPTORS
    if soft == resource.RLIM_INFINITY or soft >= need:
        return wanted
    raised = need if hard == resource.RLIM_INFINITY else min(need, hard)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (raised, hard))
        soft = raised
    except (ValueError, OSError):
        pass
    if soft >= need:
        return wanted
    fitted = max(soft // 2, soft - SPARE_DESCRIPTORS)
    logger.warning(
        "the open-file limit (%d) leaves room for %d HTTP connections, not %d; raise it (ulimit -n, "
        "systemd LimitNOFILE=) or lower --http-max-connections",
        soft,
        fitted,
        wanted,
    )
    return fitted


class EndQuietlyMidBody:
    """ASGI middleware: a disconnect that arrives before the request's announced body is complete cancels the
    app (nothing to answer: the client is gone, or was answered 408) instead of reaching it as an error; the
    apps here only read a body before they take anything to clean up. After the body, disconnects pass
    through as usual (the end of an SSE stream's client)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Only a request that announces a body can be cut off mid-body; for the others (a GET stream) a
        # disconnect is the client leaving, which the app handles (and cleans up after) itself.
        headers = dict(scope.get("headers") or ())
        body_done = (
            headers.get(b"content-length", b"0").strip() == b"0" and b"transfer-encoding" not in headers
        )

        async def guarded_receive() -> Message:
            nonlocal body_done
            message = await receive()
            if message["type"] == "http.request":
                body_done = body_done or not message.get("more_body", False)
            elif message["type"] == "http.disconnect" and not body_done:
                cut.cancel()
                await anyio.sleep_forever()  # the cancellation lands here
            return message

        with anyio.CancelScope() as cut:
            await self.app(scope, guarded_receive, send)
