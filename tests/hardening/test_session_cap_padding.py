"""byo-key session cap: an `initialize` is recognised whatever its size, so padding cannot slip past it."""

from __future__ import annotations

import itertools
import json

import httpx2
from starlette.types import Receive, Scope, Send

from replicas_mcp.sandbox.serve import serving
from replicas_mcp.server.http_guards import SessionBindingMiddleware

from ..helpers import INITIALIZE
from .http_helpers import MCP_HEADERS

_ids = itertools.count()


async def _session_issuer(scope: Scope, receive: Receive, send: Send) -> None:
    """Stands in for the SDK: every request read to its end, and answered with a new session id."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    while (await receive()).get("more_body", False):
        pass
    headers = [(b"content-type", b"application/json"), (b"mcp-session-id", f"s{next(_ids)}".encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"{}"})


async def test_a_padded_initialize_is_refused_at_the_cap_like_any_other() -> None:
    app = SessionBindingMiddleware(_session_issuer, fingerprint=lambda key: key, per_caller=1)
    headers = {**MCP_HEADERS, "Authorization": "Bearer sk_replicas_someone_0123456789"}
    async with serving(app) as url, httpx2.AsyncClient(base_url=url, timeout=30) as http:
        assert (await http.post("/mcp", json=INITIALIZE, headers=headers)).status_code == 200
        assert (await http.post("/mcp", json=INITIALIZE, headers=headers)).status_code == 429
        # The same initialize with 1 MB of JSON whitespace in front (it arrives in several chunks): still
        # an initialize, and still the caller's second session.
        padded = " " * 1_000_000 + json.dumps(INITIALIZE)
        refused = await http.post("/mcp", content=padded.encode(), headers=headers)
    assert refused.status_code == 429
