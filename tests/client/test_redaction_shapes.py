"""An upstream that echoes the key back in a disguise never gets it into an error or a log record.

Shapes: another case, a distinctive leading part, base64 (standard and URL-safe, with and without
padding, alone and inside a `Basic` credential), spaced out and separated copies. Through a scripted
transport and through a real HTTP server on loopback. Checked for a
registered key that no built-in pattern covers (the canary) and for a per-caller `sk_replicas_…` key that
is never registered.
"""

from __future__ import annotations

import base64
import json
import logging

import httpx2
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from replicas_mcp.client import ReplicasClient
from replicas_mcp.client._redact import redact_text
from replicas_mcp.client.errors import CreateOutcomeUnknownError, ReplicasError
from replicas_mcp.sandbox.serve import serving

from .client_helpers import CANARY_KEY, MockClient, json_response

CALLER_KEY = "sk_replicas_callerB7c4e19d03f2a5566"


def b64(text: str, *, urlsafe: bool = False, padded: bool = True) -> str:
    raw = text.encode()
    encoded = (base64.urlsafe_b64encode(raw) if urlsafe else base64.b64encode(raw)).decode()
    return encoded if padded else encoded.rstrip("=")


def shapes(key: str) -> dict[str, str]:
    """Every disguise of `key` an echoing upstream is tested with."""
    return {
        "upper": key.upper(),
        "lower": key.lower(),
        "swapped": key.swapcase(),
        "prefix": key[: len(key) // 2 + 2],
        "base64": b64(key),
        "base64-unpadded": b64(key + "x", padded=False),
        "base64-urlsafe": b64("\xff\xfe" + key, urlsafe=True),
        "basic-credential": "Basic " + b64(f"user:{key}"),
        "base64-in-a-path": "/v1/echo/x" + b64(key, urlsafe=True, padded=False),
        "spaced": " ".join(key),
        "dashed": "-".join(key),
        "chunked": " ".join(key[i : i + 4] for i in range(0, len(key), 4)),
        "zero-width": "\u200b".join(key),
    }


def leaked(key: str, text: str) -> list[str]:
    """The shapes of `key` still readable in `text` (by their distinctive part)."""
    distinctive = key.split("_")[-1][:10]
    squashed = "".join(ch for ch in text.lower() if ch.isalnum())
    found = [name for name, shape in shapes(key).items() if shape in text]
    if distinctive.lower() in squashed:
        found.append("distinctive part")
    return found


@pytest.mark.parametrize("key", [CANARY_KEY, CALLER_KEY], ids=["registered-canary", "unregistered-caller"])
@pytest.mark.parametrize("shape", list(shapes(CANARY_KEY)))
async def test_no_shape_of_the_key_survives_redaction(mock_client: MockClient, key: str, shape: str) -> None:
    async with mock_client(lambda request: json_response(200, {})):  # holds (registers) the canary
        echoed = shapes(key)[shape]
        redacted = redact_text(f"upstream said: {echoed} (request 42)")
    assert leaked(key, redacted) == []
    assert redacted.endswith("(request 42)")  # the rest of the message is kept


def test_ordinary_text_is_left_alone() -> None:
    text = (
        "GET /v1/replica/11111111-1111-1111-1111-111111111111/history -> 404: No replica"
        " named fix-auth-bug in replicas_mcp.client (retry in 3s)"
    )
    assert redact_text(text) == text


@pytest.mark.parametrize("key", [CANARY_KEY, CALLER_KEY], ids=["registered-canary", "unregistered-caller"])
async def test_an_upstream_echoing_the_key_in_every_shape_leaks_nothing(
    mock_client: MockClient, caplog: pytest.LogCaptureFixture, key: str
) -> None:
    """Errors (message, repr, details) and every log record, through a create whose outcome is unknown
    (logged at WARNING with the upstream's text) and reconciliation that fails the same way."""
    caplog.set_level(logging.DEBUG)
    echo = {"error": " | ".join(shapes(key).values()), "details": shapes(key)}

    def handler(request: httpx2.Request) -> httpx2.Response:
        return json_response(500, echo)

    async with mock_client(lambda request: json_response(200, {})) as owner:
        client = owner if key == CANARY_KEY else owner.with_api_key(key)
        client.replicas.reconcile_delays = (0.0,)
        async with mock_client(handler, api_key=CANARY_KEY) as echoing:
            target = echoing if key == CANARY_KEY else echoing.with_api_key(key)
            target.replicas.reconcile_delays = (0.0,)
            with pytest.raises(CreateOutcomeUnknownError) as caught:
                await target.replicas.create(name="echo", message="hi")
            with pytest.raises(ReplicasError) as listed:
                await target.replicas.list()
    texts = [str(caught.value), repr(caught.value), str(caught.value.details), str(caught.value.__cause__)]
    texts += [str(listed.value), json.dumps(listed.value.details, default=str)]
    texts += [record.getMessage() + (record.exc_text or "") for record in caplog.records]
    assert any(record.levelno >= logging.WARNING for record in caplog.records)
    for text in texts:
        assert leaked(key, text) == [], text


@pytest.mark.parametrize("key", [CANARY_KEY, CALLER_KEY], ids=["registered-canary", "unregistered-caller"])
async def test_a_loopback_upstream_echoing_the_bearer_key_leaks_nothing(
    caplog: pytest.LogCaptureFixture, key: str
) -> None:
    """A real HTTP server on loopback that answers every request with the key it was sent, in every shape
    (body `error`, `details`, a non-JSON body and a redirect `Location`)."""
    caplog.set_level(logging.DEBUG)

    async def echo(request: Request) -> Response:
        sent = request.headers["authorization"].removeprefix("Bearer ")
        disguises = " | ".join(shapes(sent).values())
        if request.url.path.endswith("/canvas"):
            return PlainTextResponse(f"upstream text: {disguises}", status_code=502)
        if request.url.path.endswith("/hooks"):
            return Response(
                status_code=302, headers={"location": f"https://x.test/{b64(sent)}?k={sent.upper()}"}
            )
        return JSONResponse({"error": disguises, "details": shapes(sent)}, status_code=400)

    app = Starlette(routes=[Route("/{path:path}", echo, methods=["GET", "POST"])])
    errors: list[ReplicasError] = []
    async with serving(app) as base_url, ReplicasClient(api_key=CANARY_KEY, base_url=base_url) as owner:
        client = owner if key == CANARY_KEY else owner.with_api_key(key)
        for call in (
            client.replicas.list(),
            client.canvas.list("r1"),
            client.hooks.get("r1"),
            client.chats.create("r1", provider="claude"),
        ):
            with pytest.raises(ReplicasError) as caught:
                await call
            errors.append(caught.value)
    texts = [text for error in errors for text in (str(error), repr(error), str(error.details))]
    texts += [record.getMessage() + (record.exc_text or "") for record in caplog.records]
    assert len(errors) == 4
    for text in texts:
        assert leaked(key, text) == [], text
