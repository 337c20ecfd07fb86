"""The API key never leaks: every tool and resource, through every failure mode the sandbox can inject.

The server runs with a canary key that matches none of the redaction patterns (only its registration as a
secret can hide it), logs at DEBUG to stderr, and every fault is injected on every API route. After each
mode, the key must appear in no tool result (text or structured), no JSON-RPC error, no log record and no
stderr line; and each tool must really have gone upstream (and so through the fault).
"""

from __future__ import annotations

import io
import json
import logging
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import anyio
import pytest
from mcp import Client, MCPError
from mcp.types import INVALID_PARAMS

from replicas_mcp.client import ReplicasClient
from replicas_mcp.client._redact import redact_text
from replicas_mcp.sandbox.faults import FaultController
from replicas_mcp.sandbox.serve import RunningSandbox
from replicas_mcp.sandbox.world import DEFAULT_ORG_KEY
from replicas_mcp.server.log_redaction import install_log_redaction, register_secret

from ..helpers import text
from ..server.helpers import call, connect
from .helpers import (
    CANARY_KEY,
    World,
    build_hardened_server,
    canary_sandbox,
    sample_arguments,
    seed_world,
    server_settings,
    tool_parameters,
    upstream_requests,
)
from .http_helpers import http_server, mcp_client

PARAMS = tool_parameters()
CLIENT_TIMEOUT = 0.25
# Every failure mode in the 2026-07-28 era; the legacy era shares the tool code, so a sample suffices there.
MODE_FAULTS: dict[str, tuple[str, ...] | None] = {
    "auto": None,
    "legacy": ("401", "500", "dropped-connection"),
}


def _status(code: int) -> Callable[[FaultController], Any]:
    return lambda faults: faults.inject_status(code, times=None)


FAULTS: dict[str, Callable[[FaultController], Any]] = {
    **{str(code): _status(code) for code in (401, 403, 404, 409, 413, 429, 500, 502, 503, 504)},
    "timeout": lambda faults: faults.add_latency(CLIENT_TIMEOUT * 2.5, times=None),
    "dropped-connection": lambda faults: faults.drop_connection(times=None),
}


@pytest.fixture
def stderr_log() -> Iterator[io.StringIO]:
    """What the CLI does (every log record of the process to a stderr handler, here at DEBUG), into a buffer
    standing in for stderr: pytest swaps and closes the real stderr between tests, which a handler that
    outlives the test would trip over."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    previous = root.level
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


def _rendered(record: logging.LogRecord) -> str:
    """The record as any handler writes it (a formatter uses `exc_text` once it is set)."""
    return logging.Formatter("%(name)s %(message)s").format(record) + (record.stack_info or "")


async def _drive_tools(
    client: Client, sandbox: RunningSandbox, world: World, *, check_upstream: bool
) -> list[str]:
    """Call every tool once; return everything the MCP client received."""
    seen: list[str] = []
    for tool, schema in PARAMS.items():
        before = upstream_requests(sandbox)
        try:
            with anyio.fail_after(CLIENT_TIMEOUT * 30):
                result = await client.call_tool(tool, sample_arguments(tool, schema, world))
            seen.append(text(result))
            seen.append(json.dumps(result.structured_content or {}))
        except MCPError as exc:
            seen.append(f"{exc} {exc.code} {json.dumps(exc.data)}")
        if check_upstream:
            assert upstream_requests(sandbox) > before, f"{tool} never reached the (faulty) API"
    return seen


async def _read_resources(client: Client, world: World) -> list[str]:
    seen: list[str] = []
    for uri in (
        "replicas://replicas",
        f"replicas://replicas/{world.replica_id}",
        f"replicas://replicas/{world.replica_id}/history",
        f"replicas://replicas/{world.replica_id}/canvas/notes.md",
        f"replicas://environments/{world.environment_id}",
        f"replicas://automations/{world.automation_id}",
    ):
        try:
            with anyio.fail_after(CLIENT_TIMEOUT * 30):
                seen.append(str(await client.read_resource(uri)))
        except MCPError as exc:
            seen.append(f"{exc} {exc.code} {json.dumps(exc.data)}")
    return seen


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_the_key_appears_nowhere_whatever_fails(
    mode: str, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str], stderr_log: io.StringIO
) -> None:
    install_log_redaction()
    caplog.set_level(logging.DEBUG)
    received: list[str] = []
    async with (
        canary_sandbox() as sandbox,
        ReplicasClient(
            api_key=CANARY_KEY, base_url=sandbox.base_url, max_retries=0, timeout=CLIENT_TIMEOUT
        ) as api,
    ):
        world = await seed_world(api)
        settings = server_settings(sandbox, CANARY_KEY, log_level="DEBUG")
        server = build_hardened_server(settings, api, policy="never")
        async with Client(server, mode=mode) as client:
            # Dropped event streams, while a subscriber keeps the replica watched. First: the faults below
            # may delete the replica (a request that times out on the client still runs upstream).
            if mode == "auto":
                sandbox.faults.drop_sse_after(0, times=None)
                uri = f"replicas://replicas/{world.replica_id}"
                async with client.listen(resource_subscriptions=[uri]):
                    with anyio.fail_after(10):
                        while sandbox.faults.stats.count("GET", "/v1/replica/{id}/events") < 2:
                            await anyio.sleep(0.05)
            for name, inject in FAULTS.items():
                only = MODE_FAULTS[mode]
                if only is not None and name not in only:
                    continue
                sandbox.faults.clear()
                inject(sandbox.faults)
                received += await _drive_tools(client, sandbox, world, check_upstream=True)
                received += await _read_resources(client, world)
                assert received, name
            # And the happy path, for good measure.
            sandbox.faults.clear()
            received += await _drive_tools(client, sandbox, world, check_upstream=False)

    stderr = stderr_log.getvalue() + capsys.readouterr().err
    assert "DEBUG" in stderr, "the stderr log was not captured"
    for item in received:
        assert CANARY_KEY not in item
    for record in caplog.records:
        assert CANARY_KEY not in _rendered(record), f"{record.name}: {record.getMessage()[:200]}"
    assert CANARY_KEY not in stderr


def test_the_redacting_filter_covers_keys_webhook_secrets_and_authorization_headers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    install_log_redaction()
    register_secret("custom-secret-value-0123456789")
    log = logging.getLogger("some.library.the.client.never.configured")
    with caplog.at_level(logging.INFO):
        log.info("key %s", "sk_replicas_live_abcdef0123456789")
        log.info("webhook secret whsec_abcdef0123456789")
        log.info("headers {'Authorization': 'Bearer abc.def.ghi'}")
        log.info("registered custom-secret-value-0123456789")
        try:
            raise RuntimeError("upstream echoed " + "sk_replicas_live_" + "abcdef0123456789")
        except RuntimeError:
            log.exception("failed")
    rendered = "\n".join(_rendered(record) for record in caplog.records) + caplog.text
    for secret in ("sk_replicas_live_abcdef0123456789", "whsec_abcdef0123456789", "abc.def.ghi"):
        assert secret not in rendered
    assert "custom-secret-value-0123456789" not in rendered
    assert redact_text("Authorization: Bearer xyz") == "Authorization: Bearer ***"


@pytest.mark.parametrize("mode", ["auto", "legacy"])
async def test_a_revealed_secret_stays_out_of_the_debug_log(
    mode: str, sandbox: RunningSandbox, caplog: pytest.LogCaptureFixture, stderr_log: io.StringIO
) -> None:
    # A variable's value matches no redaction pattern: only keeping tool results out of the log hides it.
    # Over Streamable HTTP, whose SSE library logs every chunk it sends at DEBUG (legacy sessions' answers
    # are SSE streams).
    value = f"CANARY_VALUE_{secrets.token_hex(8)}"
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.INFO, logger="mcp.client")  # this test's own client logs what it sends
    async with (
        http_server(sandbox, api_key=DEFAULT_ORG_KEY, log_level="DEBUG") as (url, _),
        mcp_client(url, mode=mode) as client,
    ):
        variable = {"environment_id": "global", "kind": "variable", "name": "DB_PASSWORD", "value": value}
        await call(client, "set_environment_item", variable)
        asked = {"environment_id": "global", "include": ["variables"], "reveal": True}
        assert value in text(await call(client, "get_environment", asked))
    log = stderr_log.getvalue()
    assert "DEBUG" in log, "the stderr log was not captured"
    assert value not in log
    assert not [record.name for record in caplog.records if value in _rendered(record)]


async def test_a_callers_line_breaks_cannot_forge_a_log_line(
    sandbox: RunningSandbox, stderr_log: io.StringIO
) -> None:
    # A caller's text in a message or its arguments, or in an exception's message under a traceback: its
    # line breaks must not start a line of their own, and neither must any line of the traceback.
    forged = "2026-12-02 14:00:00,000 CRITICAL replicas_mcp: FORGED key rotated"
    install_log_redaction()  # as building a server does
    logger = logging.getLogger("replicas_mcp.test")
    logger.warning("a path: %s", f"/x\r\n{forged}")
    logger.warning(f"a name: n\n{forged}\u2028{forged}")
    try:
        raise ValueError(f"Unknown prompt: p\n{forged}")
    except ValueError:
        logger.exception("handler raised")
    # An unknown prompt name is refused cleanly: an error that does not repeat it, and no ERROR log.
    async with connect(sandbox) as client:
        with pytest.raises(MCPError) as refused:
            await client.get_prompt(f"p\n{forged}\r\n{forged}", {})
    assert refused.value.error.code == INVALID_PARAMS
    assert "FORGED" not in str(refused.value)
    log = stderr_log.getvalue()
    assert "ERROR mcp" not in log, log
    assert "FORGED" in log, "the log was not captured"
    for line in log.splitlines():
        assert not line.startswith("2026-12-02 14:00:00"), log
        assert not line.startswith(forged), log
        assert line.startswith(("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", "    ")), log
