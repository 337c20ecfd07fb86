"""Serving the sandbox over real loopback HTTP: embedded in tests, or standalone from the CLI.

- `running_sandbox(**create_app_kwargs)`: an async context manager that serves a fresh app with uvicorn
  on a free loopback port (in a background task of the caller's event loop) and yields a `RunningSandbox`.
- `run_standalone(host, port, seed, time_scale)`: what `replicas-mcp sandbox` runs; prints the base URL and
  the keys to export, serves until Ctrl-C, returns an exit code.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import socket
import sys
from collections.abc import AsyncIterator, Generator
from dataclasses import dataclass
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.types import ASGIApp

from replicas_mcp.sandbox.app import create_app, world_of
from replicas_mcp.sandbox.faults import DroppedConnection, FaultController
from replicas_mcp.sandbox.fidelity import WakeReads
from replicas_mcp.sandbox.world import DEFAULT_ORG_NAME, DEFAULT_OTHER_ORG_NAME, World

logger = logging.getLogger("replicas_mcp.sandbox")

STARTUP_TIMEOUT_SECONDS = 10.0
_SHUTDOWN_POLL_SECONDS = 0.005
_ORPHAN_CANCEL_MESSAGE = "sandbox shutdown: the request's client is gone"


class _HideDroppedConnections(logging.Filter):
    """Connections cut on purpose (fault injection) and requests cancelled at shutdown because their client
    is gone are not server errors: keep them out of the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, asyncio.CancelledError):
            return exc.args != (_ORPHAN_CANCEL_MESSAGE,)
        return not isinstance(exc, DroppedConnection)


def _install_log_filter() -> None:
    uvicorn_error = logging.getLogger("uvicorn.error")
    if not any(isinstance(existing, _HideDroppedConnections) for existing in uvicorn_error.filters):
        uvicorn_error.addFilter(_HideDroppedConnections())


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to its host (pytest, a benchmark, the MCP server)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self._exit_requested = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield

    def request_exit(self) -> None:
        self.should_exit = True
        self._exit_requested.set()

    async def main_loop(self) -> None:
        # uvicorn's loop polls `should_exit` every 0.1 s; waking at once keeps test teardowns short.
        counter = 0
        should_exit = await self.on_tick(counter)
        while not should_exit:
            counter = (counter + 1) % 864000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._exit_requested.wait(), 0.1)
            should_exit = await self.on_tick(counter)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """uvicorn's graceful shutdown without its fixed pauses (a 0.1 s sleep, then 0.1 s polls).

        Idle keep-alive connections close at once; a connection still sending a response may finish it
        within `timeout_graceful_shutdown`. Requests still running once no connection is left have nobody
        to answer (the client went away, e.g. after a timeout against a latency fault): they are cancelled
        and awaited, so no task outlives the server. Then the lifespan shutdown stops the world's tasks.
        """
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        state = self.server_state
        for connection in list(state.connections):
            connection.shutdown()
        try:
            async with asyncio.timeout(self.config.timeout_graceful_shutdown):
                while state.connections:  # noqa: ASYNC110 (uvicorn signals no event when the last one closes)
                    await asyncio.sleep(_SHUTDOWN_POLL_SECONDS)
        except TimeoutError:
            logger.warning(
                "sandbox shutdown: %d connection(s) still busy after %s s; cancelling their requests",
                len(state.connections),
                self.config.timeout_graceful_shutdown,
            )
        orphans = list(state.tasks)
        for task in orphans:
            task.cancel(msg=_ORPHAN_CANCEL_MESSAGE)
        if orphans:
            await asyncio.gather(*orphans, return_exceptions=True)
        for server in self.servers:
            await server.wait_closed()
        await self.lifespan.shutdown()


@dataclass(frozen=True)
class RunningSandbox:
    base_url: str
    app: Starlette
    world: World

    @property
    def faults(self) -> FaultController:
        return self.world.faults

    @property
    def org_key(self) -> str:
        return self.world.key_for(DEFAULT_ORG_NAME, "org")

    @property
    def personal_key(self) -> str:
        return self.world.key_for(DEFAULT_ORG_NAME, "personal")

    @property
    def other_org_key(self) -> str:
        return self.world.key_for(DEFAULT_OTHER_ORG_NAME, "org")


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio only sets TCP_NODELAY on accepted sockets whose proto says TCP. Without it,
    # Nagle holds back the body written after the response head until the client's delayed ACK (~40 ms).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def _config(app: ASGIApp, host: str, port: int, *, log_level: str) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http="h11",
        lifespan="on",
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=2,
    )


@contextlib.asynccontextmanager
async def serving(app: ASGIApp, *, host: str = "127.0.0.1") -> AsyncIterator[str]:
    """Serve any ASGI app on a free port of `host` in a background task; yields its base URL."""
    _install_log_filter()
    sock = _bind(host, 0)
    bound_port = sock.getsockname()[1]
    server = _EmbeddedServer(_config(app, host, bound_port, log_level="warning"))
    serving_task = asyncio.get_running_loop().create_task(
        server.serve(sockets=[sock]), name="loopback server"
    )
    try:
        async with asyncio.timeout(STARTUP_TIMEOUT_SECONDS):
            while not server.started:
                if serving_task.done():
                    serving_task.result()  # surfaces the startup error
                    raise RuntimeError("the server stopped during startup")
                await asyncio.sleep(0.01)
        url_host = f"[{host}]" if ":" in host else host
        yield f"http://{url_host}:{bound_port}"
    finally:
        server.request_exit()
        try:
            await serving_task
        finally:
            sock.close()


@contextlib.asynccontextmanager
async def running_sandbox(
    *, host: str = "127.0.0.1", **create_app_kwargs: Any
) -> AsyncIterator[RunningSandbox]:
    """Serve a fresh sandbox (`create_app(**create_app_kwargs)`) on a free loopback port for the block."""
    app = create_app(**create_app_kwargs)
    world = world_of(app)
    async with serving(app, host=host) as base_url:
        try:
            yield RunningSandbox(base_url=base_url, app=app, world=world)
        finally:
            world.close_streams()  # open event streams end, so the shutdown need not wait for them


def run_standalone(
    host: str = "127.0.0.1",
    port: int = 8765,
    seed: int | None = 0,
    time_scale: float = 1.0,
    *,
    strict: bool = False,
    wake_reads: WakeReads = "guide",
    replay: bool | None = None,
) -> int:
    """Serve the sandbox until Ctrl-C. Prints where it listens and the keys to use (to stderr)."""
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    _install_log_filter()
    try:
        app = create_app(
            seed=seed, time_scale=time_scale, strict=strict, wake_reads=wake_reads, replay=replay
        )
    except ValueError as exc:
        print(f"replicas-mcp sandbox: {exc}", file=sys.stderr)
        return 2
    try:
        sock = _bind(host, port)
    except OSError as exc:
        reason = "is already in use" if exc.errno == errno.EADDRINUSE else f"cannot be bound ({exc.strerror})"
        print(f"replicas-mcp sandbox: {host}:{port} {reason}; choose another with --port.", file=sys.stderr)
        return 1
    world = world_of(app)
    url_host = f"[{host}]" if ":" in host else host
    base_url = f"http://{url_host}:{sock.getsockname()[1]}"
    print(_banner(base_url, world), file=sys.stderr, flush=True)
    server = uvicorn.Server(_config(app, host, port, log_level="info"))
    try:
        asyncio.run(server.serve(sockets=[sock]))
    except KeyboardInterrupt:
        pass  # uvicorn shut down gracefully on the first Ctrl-C and re-raised it: that is a clean stop
    finally:
        sock.close()
    print("replicas-mcp sandbox: stopped", file=sys.stderr)
    return 0


def _banner(base_url: str, world: World) -> str:
    org_key = world.key_for(DEFAULT_ORG_NAME, "org")
    lines = [
        f"Replicas API sandbox listening on {base_url} (seed={world.seed}, time scale={world.clock.scale:g}, "
        f"{'strict' if world.fidelity.strict else 'lenient'}, wake reads: {world.fidelity.wake_reads}, "
        f"Last-Event-ID replay: {'on' if world.fidelity.replays else 'off'})",
        "Point the MCP server or any client at it:",
        f"  export REPLICAS_BASE_URL={base_url}",
        f"  export REPLICAS_API_KEY={org_key}",
        "Keys:",
    ]
    for api_key in world.keys:
        owner = f" (user {api_key.user_id})" if api_key.user_id else ""
        lines.append(f"  {api_key.key}  {api_key.kind} key of org {api_key.org_name}{owner}")
    lines.append("Control endpoints (faults, stats): " + base_url + "/_sandbox/ ; Ctrl-C stops.")
    return "\n".join(lines)
