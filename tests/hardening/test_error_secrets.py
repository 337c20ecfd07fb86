"""Model-eye s4 #10: a secret the call carried never comes back inside an API error.

The API quotes rejected values back in its 400s ("config.url must be an absolute http(s) URL; got '…'"). The
strict sandbox does so for an MCP's config.url (and for names, keys and paths, which are not secret), so the
URL cases run over MCP against it; the values it never quotes (a variable's value, a file's content, MCP env,
header and args values, a webhook secret) are checked on the error mapping with an upstream text that
quotes them, as another deployment of the API may.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

import pytest

from replicas_mcp.client import errors as e
from replicas_mcp.sandbox.serve import RunningSandbox
from replicas_mcp.server.errors import describe, tool_error

from ..server.helpers import call, call_error, connect, data


def _secret(prefix: str = "") -> str:
    return f"{prefix}{secrets.token_hex(12)}"


@pytest.mark.parametrize(
    "url",
    [
        "mcp.linear.app/mcp?token={secret}",  # no scheme: not a URL to the shape masker
        "ftp://mcp.example.com/mcp?token={secret}",
        "admin:{secret}@mcp.example.com/mcp",
    ],
)
async def test_a_rejected_mcp_url_is_quoted_back_masked(
    sandbox: RunningSandbox, url: str, caplog: pytest.LogCaptureFixture
) -> None:
    secret = _secret("lin_api_")
    config = {"url": url.format(secret=secret), "headers": {}}
    caplog.set_level(logging.DEBUG)
    async with connect(sandbox, toolsets=("all",), confirm_destructive="never") as client:
        env = data(await call(client, "save_environment", {"name": "error-secrets"}))["id"]
        args = {"environment_id": env, "kind": "mcp", "name": "lin", "transport": "http", "config": config}
        message = await call_error(client, "set_environment_item", args)
    assert "absolute http(s) URL" in message  # the API's reason is kept
    assert secret not in message
    assert "***" in message
    assert secret not in caplog.text


@pytest.mark.parametrize(
    ("args", "secret"),
    [
        ({"kind": "variable", "name": "DB_URL", "value": "{s}"}, "{s}"),
        ({"kind": "file", "name": "~/.npmrc", "value": "//r.npmjs.org/:x={s}"}, "//r.npmjs.org/:x={s}"),
        ({"kind": "mcp", "config": {"url": "https://h.io", "headers": {"X-Team": "{s}"}}}, "{s}"),
        ({"kind": "mcp", "config": {"command": "x", "args": [], "env": {"LINEAR": "{s}"}}}, "{s}"),
        ({"kind": "mcp", "config": {"command": "x", "args": ["--api-key", "{s}"], "env": {}}}, "{s}"),
        ({"kind": "mcp", "config": {"command": "x", "args": ["--auth={s}"], "env": {}}}, "--auth={s}"),
        ({"triggers": [{"type": "custom", "config": {"secret": "{s}"}}]}, "{s}"),
        ({"webhook_secret": "{s}"}, "{s}"),
    ],
)
def test_secret_argument_values_quoted_by_the_api_are_redacted(args: dict[str, Any], secret: str) -> None:
    value = _secret()
    filled = _filled(args, value)
    quoted = secret.format(s=value)
    upstream = e.BadRequestError(
        f"got {quoted!r}", status=400, error="Invalid field", details=f"rejected value {quoted!r}"
    )
    for message in (describe(upstream, filled), str(tool_error(upstream, filled))):
        assert value not in message, message
        assert "Invalid field" in message


def test_the_masking_happens_before_the_text_is_shortened() -> None:
    value = _secret()
    upstream = e.BadRequestError("bad", status=400, error="x" * 280 + f" got '{value}'")
    assert value[:10] not in describe(upstream, {"value": value})


def test_ordinary_values_are_still_quoted() -> None:
    upstream = e.BadRequestError("bad", status=400, error="Invalid field 'key'", details="got 'MY-VAR'")
    assert "MY-VAR" in describe(upstream, {"kind": "variable", "name": "MY-VAR", "value": "s3cr3t-value"})


def _filled(value: Any, secret: str) -> Any:
    if isinstance(value, str):
        return value.format(s=secret)
    if isinstance(value, dict):
        return {k: _filled(v, secret) for k, v in value.items()}
    if isinstance(value, list):
        return [_filled(v, secret) for v in value]
    return value
