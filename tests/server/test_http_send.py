"""A short HTTP response leaves in one socket send: the head waits for its body, never longer than the
current turn of the event loop (replicas_mcp/server/http_send.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx2
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from replicas_mcp.server.http_send import HeadWithBody, OneSendPerResponse

HEAD = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"


class Recording(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


async def test_a_head_leaves_with_the_body_written_after_it() -> None:
    inner = Recording()
    transport = HeadWithBody(inner)
    transport.write(HEAD)
    transport.write(b"{}")
    transport.write(b"")  # h11's end of a sized message
    assert inner.writes == [HEAD + b"{}", b""]
    await asyncio.sleep(0)
    assert inner.writes == [HEAD + b"{}", b""]  # nothing left to flush


async def test_a_head_alone_leaves_at_the_end_of_the_turn() -> None:
    inner = Recording()
    transport = HeadWithBody(inner)
    transport.write(memoryview(HEAD))  # a stream's head: its events come later
    assert inner.writes == []
    await asyncio.sleep(0)
    assert inner.writes == [HEAD]
    transport.write(b"event: message\r\n\r\n")
    assert inner.writes == [HEAD, b"event: message\r\n\r\n"]


async def test_closing_sends_a_held_head_first_and_other_writes_pass_at_once() -> None:
    inner = Recording()
    transport = HeadWithBody(inner)
    transport.write(b"e0\r\nchunk\r\n")
    assert inner.writes == [b"e0\r\nchunk\r\n"]
    transport.write(HEAD)
    transport.close()
    assert inner.writes == [b"e0\r\nchunk\r\n", HEAD]
    assert inner.closed
    await asyncio.sleep(0)
    assert inner.writes == [b"e0\r\nchunk\r\n", HEAD]  # not sent twice


async def test_a_server_on_it_answers_and_streams() -> None:
    """The protocol as the HTTP transport serves it: a plain response and a streamed one, on one
    kept-alive connection."""

    async def plain(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    async def streamed(request: Request) -> StreamingResponse:
        async def parts() -> Any:
            for n in range(3):
                await asyncio.sleep(0.01)
                yield f"data: {n}\n\n".encode()

        return StreamingResponse(parts(), media_type="text/event-stream")

    app = Starlette(routes=[Route("/plain", plain), Route("/streamed", streamed)])
    config = uvicorn.Config(app, host="127.0.0.1", port=0, http=OneSendPerResponse, log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        async with httpx2.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            assert (await client.get("/plain")).json() == {"ok": True}
            assert (await client.get("/streamed")).text == "data: 0\n\ndata: 1\n\ndata: 2\n\n"
            assert (await client.get("/plain")).json() == {"ok": True}
    finally:
        server.should_exit = True
        await task
