"""MCP logging: what a user should see reaches their client as `notifications/message`, redacted.

What is sent: every record of level WARNING or above from the server's own loggers (`replicas_mcp.*`, not
the embedded sandbox's): a key the API rejected (`server/startup.py`), an upstream outage, a degraded event
stream. Records are redacted when they are created (`log_redaction.py`), so what a client receives is what
stderr shows, never a secret.

Who receives it, in each protocol era:

- 2025-era sessions (`initialize` handshake) call `logging/setLevel`; from then on the session receives
  messages at that level and above. `MCPServer` does not serve `logging/setLevel` (the 2026 revision removed
  it), so the handler is registered on the low-level server through `server/tools/sdk.py`, which also makes
  the server advertise the `logging` capability.
- 2026-07-28 clients have no session and no `setLevel`: log delivery is opted into per request (the
  `io.modelcontextprotocol/logLevel` key of the request's `_meta`). A `subscriptions/listen` request that
  carries it receives the messages on its stream for as long as it is open (`listening`).

In byo-key mode a message is delivered only to the caller whose request produced it: one caller's upstream
trouble is not another's business. The last few error messages (a rejected key) are kept and replayed to a
client that starts listening later, since a desktop client connects after the server has started.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, get_args

import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream
from mcp.types import EmptyResult, SetLevelRequestParams

from replicas_mcp.server.caller import SERVER_CALLER
from replicas_mcp.server.log_redaction import redact_text
from replicas_mcp.server.tools.sdk import (
    add_request_handler,
    connection_of,
    send_log_message,
    when_connection_ends,
)

if TYPE_CHECKING:
    from mcp.server import MCPServer, ServerRequestContext

LoggingLevel = Literal["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"]
LEVELS: tuple[LoggingLevel, ...] = get_args(LoggingLevel)
SOURCE_LOGGER = "replicas_mcp"
SKIPPED_LOGGERS = ("replicas_mcp.sandbox",)
LOGGER_NAME = "replicas-mcp"
MAX_PENDING = 100  # messages waiting to be sent; more are dropped (stderr still has them)
REPLAYED = 5  # error messages kept for clients that start listening later
MAX_SINKS = 1_000
MAX_SINKS_PER_CALLER = 50  # one caller's sessions evict its own oldest sink, never another's


def mcp_level(record_level: int) -> LoggingLevel:
    if record_level >= logging.CRITICAL:
        return "critical"
    if record_level >= logging.ERROR:
        return "error"
    if record_level >= logging.WARNING:
        return "warning"
    return "info" if record_level >= logging.INFO else "debug"


def at_least(level: str, minimum: str) -> bool:
    return LEVELS.index(level) >= LEVELS.index(minimum)


@dataclass
class _Sink:
    session: Any  # the SDK's session (legacy) or the listen request's session view (2026)
    minimum: LoggingLevel
    caller: str
    related_request_id: Any = None


@dataclass(frozen=True)
class _Message:
    level: LoggingLevel
    text: str
    caller: str | None  # None: for every caller (server-key mode, or the server's own key)


class ClientLog:
    """The sinks (sessions and listen streams that asked for messages) and a queue feeding them."""

    def __init__(self, caller_of: Callable[[], str]) -> None:
        self._caller_of = caller_of
        # Keyed by what the sink lives as long as: a legacy session's connection (the SDK builds a new
        # `ServerSession` per request, so a second setLevel must replace the first, not add a sink), or a
        # 2026 listen request's own session view.
        self._sinks: dict[object, _Sink] = {}
        self._replay: deque[_Message] = deque(maxlen=REPLAYED)
        self._send: MemoryObjectSendStream[_Message] | None = None
        self._loop_thread: int | None = None
        self.sent = 0

    # --- producers --------------------------------------------------------------------------------------

    def publish(self, level: LoggingLevel, text: str, *, for_caller: str | None = None) -> None:
        """Queue a message (non-blocking; dropped when the queue is full or the server is not running)."""
        message = _Message(level, redact_text(text), for_caller)
        if at_least(level, "error"):
            self._replay.append(message)
        if self._send is None or threading.get_ident() != self._loop_thread:
            return

        with suppress(anyio.WouldBlock, anyio.ClosedResourceError, anyio.BrokenResourceError):
            self._send.send_nowait(message)

    def handler(self) -> logging.Handler:
        return _ForwardingHandler(self)

    # --- sinks ------------------------------------------------------------------------------------------

    async def set_level(
        self, ctx: ServerRequestContext[Any, Any], params: SetLevelRequestParams
    ) -> EmptyResult:
        """`logging/setLevel` (2025 era): this session receives messages at `level` and above, until it ends
        (a later setLevel of the same session replaces the level)."""
        connection = connection_of(ctx.session)
        if connection not in self._sinks:

            async def session_ended() -> None:
                self._sinks.pop(connection, None)

            when_connection_ends(ctx.session, session_ended)
        sink = _Sink(ctx.session, params.level, self._caller_of())
        self._add(connection, sink)
        await self._replay_to(sink)
        return EmptyResult()

    @contextmanager
    def listening(self, ctx: ServerRequestContext[Any, Any]) -> Iterator[None]:
        """While a 2026 listen stream is open, it receives messages (if its request opted in)."""
        sink = _Sink(ctx.session, "debug", self._caller_of(), related_request_id=ctx.request_id)
        self._add(ctx.session, sink)
        try:
            yield
        finally:
            if self._sinks.get(ctx.session) is sink:
                del self._sinks[ctx.session]

    def _add(self, key: object, sink: _Sink) -> None:
        if key not in self._sinks:
            own = [held for held, kept in self._sinks.items() if kept.caller == sink.caller]
            if len(own) >= MAX_SINKS_PER_CALLER:
                self._sinks.pop(own[0])
            elif len(self._sinks) >= MAX_SINKS:
                self._sinks.pop(next(iter(self._sinks)))
        self._sinks[key] = sink

    async def _replay_to(self, sink: _Sink) -> None:
        for message in list(self._replay):
            await self._deliver(sink, message)

    # --- delivery ---------------------------------------------------------------------------------------

    async def run(self, tasks: TaskGroup) -> None:
        """Start delivering (call once, in the server's lifespan)."""
        send, receive = anyio.create_memory_object_stream[_Message](MAX_PENDING)
        self._send, self._loop_thread = send, threading.get_ident()
        tasks.start_soon(self._deliver_all, receive)

    def close(self) -> None:
        """Stop delivering (the server's lifespan ends)."""
        if self._send is not None:
            self._send.close()
            self._send = None

    async def _deliver_all(self, receive: MemoryObjectReceiveStream[_Message]) -> None:
        async with receive:
            async for message in receive:
                for sink in list(self._sinks.values()):
                    await self._deliver(sink, message)

    async def _deliver(self, sink: _Sink, message: _Message) -> None:
        if message.caller is not None and message.caller != sink.caller:
            return
        if not at_least(message.level, sink.minimum):
            return
        try:
            with anyio.fail_after(5):
                await send_log_message(
                    sink.session, message.level, message.text, LOGGER_NAME, sink.related_request_id
                )
            self.sent += 1
        except Exception:  # a closed session or stream: forget it
            for key in [key for key, held in self._sinks.items() if held is sink]:
                del self._sinks[key]


class _ForwardingHandler(logging.Handler):
    """Forwards the server's own WARNING+ records (already redacted) to `ClientLog.publish`."""

    def __init__(self, log: ClientLog) -> None:
        super().__init__(level=logging.WARNING)
        self._log = log

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(SKIPPED_LOGGERS) or getattr(record, "client_log_skip", False):
            return
        try:
            text = record.getMessage()
            caller = getattr(record, "caller", None) or self._log._caller_of()
            self._log.publish(mcp_level(record.levelno), text, for_caller=_specific(caller))
        except Exception:  # logging must never fail the code that logs
            return


def _specific(caller: str) -> str | None:
    """A message produced while serving one byo-key caller is theirs; the server's own is everyone's."""
    return None if caller == SERVER_CALLER else caller


def register_client_log(server: MCPServer[Any], log: ClientLog) -> None:
    """Serve `logging/setLevel` (and so advertise the logging capability); forward the server's warnings."""
    add_request_handler(server, "logging/setLevel", SetLevelRequestParams, log.set_level)


@contextmanager
def forwarding(log: ClientLog) -> Iterator[None]:
    """Attach the forwarding handler to the server's loggers for the life of the server."""
    handler = log.handler()
    source = logging.getLogger(SOURCE_LOGGER)
    source.addHandler(handler)
    try:
        yield
    finally:
        source.removeHandler(handler)
