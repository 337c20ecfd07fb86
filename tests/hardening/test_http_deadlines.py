"""Attacker review 4, #10: a client may not hold a connection by never finishing its request (headers or
body), and connections past `--http-max-connections` are refused at once; responses, streams included, are
never cut. Over real loopback sockets against the CLI's HTTP server (a subprocess), speaking raw HTTP where
the point is a request that never completes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx2
import pytest
from anyio.abc import SocketStream
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from replicas_mcp.cli import main
from replicas_mcp.server.http_deadlines import EndQuietlyMidBody

from ..helpers import INITIALIZE
from .http_helpers import cli_http_server

TOKEN = "tok_deadlines_" + "0123456789abcdef" * 2
WEBHOOK_SECRET = "whsec_deadlines_test_secret_123456"
DEADLINE = 2  # seconds: the servers' --http-request-timeout here, short so a held request ends soon
HANG = 60  # a hang guard only: how fast anything happens is bench/'s business

pytestmark = pytest.mark.slow


@asynccontextmanager
async def cli_server(
    *args: str, env: dict[str, str] | None = None, sandbox: bool = True
) -> AsyncIterator[tuple[int, list[bytes]]]:
    """`replicas-mcp [--sandbox] --transport http --port 0 ARGS`: yields its port and its stderr lines."""
    async with cli_http_server(*args, env=env, sandbox=sandbox, hang=HANG) as (url, _, stderr):
        yield int(url.rsplit(":", 1)[1]), stderr


def guarded_server(*args: str) -> Any:
    return cli_server(
        "--http-request-timeout",
        str(DEADLINE),
        "--http-token",
        TOKEN,
        "--webhook-secret",
        WEBHOOK_SECRET,
        *args,
    )


async def _until_closed(stream: SocketStream) -> bytes:
    """Everything the server sends until it closes the connection."""
    received = b""
    with anyio.fail_after(HANG):
        while True:
            try:
                received += await stream.receive()
            except anyio.EndOfStream:
                return received


async def _held(port: int, *parts: bytes) -> bytes:
    """Send `parts` on a new connection, then nothing more: what the server answers before it closes it."""
    async with await anyio.connect_tcp("127.0.0.1", port) as stream:
        for part in parts:
            await stream.send(part)
        return await _until_closed(stream)


def _head(port: int, method: str, path: str, **headers: str) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _status(answer: bytes) -> int:
    assert answer.startswith(b"HTTP/1.1 "), answer[:80]
    return int(answer.split(b" ", 2)[1])


async def test_requests_that_never_arrive_whole_are_answered_408_and_closed() -> None:
    async with guarded_server() as (port, stderr):
        mcp = _head(
            port,
            "POST",
            "/mcp",
            Authorization=f"Bearer {TOKEN}",
            Content_Type="application/json",
            Accept="application/json, text/event-stream",
            Content_Length="1000",
        )
        webhook = _head(
            port, "POST", "/webhooks/replicas", Content_Type="application/json", Content_Length="1000"
        )
        answers: dict[str, bytes] = {}

        async def held(name: str, *parts: bytes) -> None:
            answers[name] = await _held(port, *parts)

        async with anyio.create_task_group() as tasks:  # all at once: each waits out the deadline
            tasks.start_soon(held, "nothing sent", b"")
            unfinished = f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n".encode()
            tasks.start_soon(held, "headers unfinished", unfinished)
            tasks.start_soon(held, "one header, byte by byte", b"GET /healthz HTTP/1.1\r\nX-Pad: a")
            tasks.start_soon(held, "mcp body unfinished", mcp, b'{"jsonrpc":')
            tasks.start_soon(held, "webhook body unfinished", webhook, b"{")
            served_then_unfinished = (_head(port, "GET", "/healthz"), b"GET /healthz HTTP/1.1\r\n")
            tasks.start_soon(held, "second request unfinished", *served_then_unfinished)

        assert answers["nothing sent"] == b""  # nothing asked, nothing answered: closed
        for name in ("headers unfinished", "one header, byte by byte", "mcp body unfinished"):
            assert _status(answers[name]) == 408, name
            assert b"did not arrive within 2 s" in answers[name]
        # The webhook receiver may answer before reading a body (no signature); either way it is closed.
        assert _status(answers["webhook body unfinished"]) in (401, 408)
        first, _, second = answers["second request unfinished"].partition(b"\r\n\r\n")
        assert _status(first) == 200  # the first request on the connection was served ...
        assert b"HTTP/1.1 408" in second  # ... the unfinished second one timed out
        logged = b"".join(stderr).decode()
        assert "Traceback" not in logged
        assert "Exception in ASGI application" not in logged


async def test_a_slow_request_that_arrives_within_the_deadline_is_served() -> None:
    async with guarded_server() as (port, _), await anyio.connect_tcp("127.0.0.1", port) as stream:
        body = json.dumps(INITIALIZE).encode()
        head = _head(
            port,
            "POST",
            "/mcp",
            Authorization=f"Bearer {TOKEN}",
            Content_Type="application/json",
            Accept="application/json, text/event-stream",
            Content_Length=str(len(body)),
            Connection="close",
        )
        request = head + body
        step = len(request) // 5 + 1
        pieces = [request[i : i + step] for i in range(0, len(request), step)]
        for piece in pieces:  # five pieces over ~0.4 s, well within the 2 s deadline
            await stream.send(piece)
            await anyio.sleep(0.1)
        answer = await _until_closed(stream)
    assert _status(answer) == 200, answer[:200]
    assert b'"protocolVersion"' in answer


async def test_a_response_stream_outlives_the_request_deadline() -> None:
    async with (
        guarded_server("--toolsets", "replicas") as (port, stderr),
        httpx2.AsyncClient(timeout=HANG, headers={"Authorization": f"Bearer {TOKEN}"}) as http,
        Client(
            streamable_http_client(f"http://127.0.0.1:{port}/mcp", http_client=http), mode="legacy"
        ) as client,
    ):
        envs = (await client.call_tool("list_environments", {})).structured_content or {}
        environment = next(e["id"] for e in envs["environments"] if e.get("repository_id"))
        # The answer is an SSE stream (progress, then the result) open for three times the deadline.
        result = await client.call_tool(
            "delegate_task",
            {"environment_id": environment, "task": "Refactor slowly [[slow:120]]", "wait_s": 3 * DEADLINE},
        )
        assert not result.is_error, result.content
        assert "cursor" in json.dumps(result.structured_content)
        # The session's other connections (idle between calls) were not cut either: it still works.
        again = await client.call_tool("list_environments", {})
        assert not again.is_error, again.content
    assert "Traceback" not in b"".join(stderr).decode()


async def test_connections_past_the_cap_are_refused_with_503_until_one_closes() -> None:
    async with cli_server("--http-max-connections", "3", "--http-request-timeout", "600") as (port, stderr):
        held = [await anyio.connect_tcp("127.0.0.1", port) for _ in range(3)]
        try:
            for stream in held:
                await stream.send(b"GET /healthz HTTP/1.1\r\n")  # half-sent, held open
            refused = await _held(port, _head(port, "GET", "/healthz"))
            assert _status(refused) == 503
            assert b"Too many open connections" in refused
            assert b"retry-after: 1" in refused.lower()
        finally:
            await held[0].aclose()
        # One held connection closed: a new one is served again (as soon as the server noticed the close).
        with anyio.fail_after(HANG):
            while True:
                answer = await _held(port, _head(port, "GET", "/healthz", Connection="close"))
                if _status(answer) == 200:
                    break
                await anyio.sleep(0.05)
        for stream in held[1:]:
            await stream.aclose()
    assert "refusing HTTP connections (503): 3 are open" in b"".join(stderr).decode()


def test_bad_bounds_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    for flag, value in (("--http-request-timeout", "0"), ("--http-max-connections", "0")):
        assert main(["--sandbox", "--transport", "http", flag, value]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1, err
        assert flag in err


async def test_only_a_body_cut_off_ends_the_app_quietly() -> None:
    """A disconnect before an announced body is complete ends the app without an error; a disconnect on a
    request without a body (a GET stream whose client left) reaches the app, which cleans up itself."""
    seen: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        message = await receive()
        seen.append(message["type"])

    async def disconnected() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def nothing_sent(message: Any) -> None:
        raise AssertionError(f"nothing is answered here, got {message}")

    guarded = EndQuietlyMidBody(app)
    post = {"type": "http", "method": "POST", "headers": [(b"content-length", b"1000")]}
    await guarded(post, disconnected, nothing_sent)
    assert seen == []  # cancelled in receive(): nothing after it ran, nothing raised
    get = {"type": "http", "method": "GET", "headers": []}
    await guarded(get, disconnected, nothing_sent)
    assert seen == ["http.disconnect"]
