"""One socket send per short HTTP response: uvicorn's h11 protocol writes a response's head and its body in
two transport writes, so each answer costs two `send` calls, and the first wakes the client for a head it
cannot use alone. On a busy machine that first send is also where the server loses the CPU to the woken
client: 0.66 ms p50 between head and body on the bench's loaded 2-core machine (docs/performance.md, "Event
latency").

`OneSendPerResponse` is uvicorn's h11 protocol with its transport wrapped in `HeadWithBody`, which holds a
response head until the next write (the body, written in the same turn of the event loop by a plain
response) or the end of that turn (a stream's head, whose events come later), whichever is first.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

HEAD = b"HTTP/1."  # how every response head h11 writes begins


class HeadWithBody(asyncio.Transport):
    """A transport that sends a response head together with what is written next (see the module)."""

    def __init__(self, transport: asyncio.Transport) -> None:
        super().__init__()
        self._inner = transport
        self._head: bytes | None = None
        self._loop = asyncio.get_running_loop()

    def write(self, data: bytes | bytearray | memoryview[int]) -> None:
        if self._head is not None:
            data, self._head = self._head + bytes(data), None
        elif bytes(data[: len(HEAD)]) == HEAD:
            self._head = bytes(data)
            self._loop.call_soon(self._flush)  # a head with no body this turn goes out at its end
            return
        self._inner.write(data)

    def _flush(self) -> None:
        head, self._head = self._head, None
        if head is not None and not self._inner.is_closing():
            self._inner.write(head)

    def writelines(self, list_of_data: Any) -> None:
        self.write(b"".join(bytes(part) for part in list_of_data))

    def write_eof(self) -> None:
        self._flush()
        self._inner.write_eof()

    def can_write_eof(self) -> bool:
        return self._inner.can_write_eof()

    def close(self) -> None:
        self._flush()
        self._inner.close()

    def abort(self) -> None:
        self._head = None
        self._inner.abort()

    def is_closing(self) -> bool:
        return self._inner.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._inner.get_extra_info(name, default)

    def pause_reading(self) -> None:
        self._inner.pause_reading()

    def resume_reading(self) -> None:
        self._inner.resume_reading()

    def is_reading(self) -> bool:
        return self._inner.is_reading()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._inner.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._inner.get_protocol()

    def get_write_buffer_size(self) -> int:
        return self._inner.get_write_buffer_size() + len(self._head or b"")

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._inner.get_write_buffer_limits()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._inner.set_write_buffer_limits(high, low)


class OneSendPerResponse(H11Protocol):
    """uvicorn's h11 protocol, writing through `HeadWithBody`."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(HeadWithBody(transport))
