"""Every request the client sends and every answer the strict sandbox gives, checked against the contract.

The vendor's OpenAPI document is read at test time (see `openapi_contract.py`); objects are validated
closed, so a field the contract does not name fails. The client is driven over real loopback HTTP
through a broad walk (`scenario.py`); a test-only ASGI middleware records each exchange.

Deliberate exceptions (also in docs/sandbox.md, "Contract test"): `EXCEPTIONS` below. Anything else
outside the contract fails the test.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from replicas_mcp.client import ReplicasClient
from replicas_mcp.client.errors import RequestValidationError
from replicas_mcp.client.models.automations import AutomationTrigger
from replicas_mcp.sandbox.app import create_app, world_of
from replicas_mcp.sandbox.fidelity import WakeReads
from replicas_mcp.sandbox.serve import serving
from replicas_mcp.sandbox.world import DEFAULT_ORG_KEY, DEFAULT_PERSONAL_KEY, World

from . import scenario
from .openapi_contract import Contract, Exchange, Violation, find_document
from .recorder import Recorder

DOCUMENT = find_document(Path(__file__))


@dataclass(frozen=True)
class Exception_:
    """A violation allowed on purpose: which operation, which kind, where (regex), and why."""

    method: str
    template: str
    kind: str
    where: str
    reason: str
    message: str = ""

    def allows(self, violation: Violation) -> bool:
        return (
            self.method == violation.method
            and re.fullmatch(self.template, violation.template) is not None
            and self.kind == violation.kind
            and re.fullmatch(self.where, violation.where) is not None
            and re.search(self.message, violation.message) is not None
        )


ENGINE_READS = r"/v1/replica/\{id\}/(chats|history|canvas|hooks|chats/\{chatId\}/queue)"

EXCEPTIONS = (
    Exception_(
        "POST",
        r"/v1/replica/[^/]+/wake",
        "path",
        "",
        "guide-only endpoint: POST /v1/replica/{id}/wake (the client's wake_and_wait uses it)",
    ),
    Exception_(
        "GET",
        ENGINE_READS,
        "status",
        "",
        "409 for engine reads of a workspace that is sleeping (guide behaviour, wake_reads='guide') or "
        "in error (both): the contract lists no answer for these; the guide's 409 is kept. The client "
        "handles 409 and, with wake_reads='contract', 200 with waking: true.",
        message="status 409",
    ),
)


def unexpected(exchanges: list[Exchange], contract: Contract) -> list[str]:
    found: list[str] = []
    for exchange in exchanges:
        for violation in contract.check(exchange):
            if not any(allowed.allows(violation) for allowed in EXCEPTIONS):
                found.append(str(violation))
    return sorted(set(found))


@pytest.fixture(scope="module")
def contract() -> Contract:
    if DOCUMENT is None:
        pytest.skip(
            "the vendor's OpenAPI document (shared/docs/replicas-openapi.json) is not beside the checkout"
        )
    return Contract.load(DOCUMENT)


@dataclass
class Recorded:
    client: ReplicasClient
    personal: ReplicasClient
    world: World
    recorder: Recorder


async def recorded(wake_reads: WakeReads) -> AsyncIterator[Recorded]:
    app = create_app(seed=0, time_scale=0.05, strict=True, wake_reads=wake_reads)
    world = world_of(app)
    recorder = Recorder(app)
    async with serving(recorder) as base_url:
        try:
            async with (
                ReplicasClient(api_key=DEFAULT_ORG_KEY, base_url=base_url, max_retries=0) as client,
                ReplicasClient(api_key=DEFAULT_PERSONAL_KEY, base_url=base_url, max_retries=0) as personal,
            ):
                yield Recorded(client, personal, world, recorder)
        finally:
            world.close_streams()


@pytest.fixture(params=["guide", "contract"])
async def strict_sandbox(request: pytest.FixtureRequest) -> AsyncIterator[Recorded]:
    async for running in recorded(request.param):
        yield running


async def test_the_client_and_the_strict_sandbox_stay_inside_the_contract(
    strict_sandbox: Recorded, contract: Contract
) -> None:
    await scenario.replicas_and_chats(strict_sandbox.client, strict_sandbox.world)
    await scenario.environments(strict_sandbox.client)
    await scenario.automations(strict_sandbox.client)
    await scenario.personal(strict_sandbox.personal)

    exchanges = strict_sandbox.recorder.exchanges
    operations = {(e.method, op.template) for e in exchanges if (op := contract.operation(e.method, e.path))}
    assert len(operations) >= 55, "the walk should reach most of the client's operations"
    assert unexpected(exchanges, contract) == []


async def test_sleeping_reads_follow_the_chosen_document(strict_sandbox: Recorded) -> None:
    await scenario.replicas_and_chats(strict_sandbox.client, strict_sandbox.world)
    reads = [
        e
        for e in strict_sandbox.recorder.exchanges
        if e.method == "GET" and re.fullmatch(r"/v1/replica/[^/]+/(chats|history)", e.path)
    ]
    statuses = {(e.status, json.loads(e.response_body).get("waking")) for e in reads}
    if strict_sandbox.world.fidelity.wake_reads == "contract":
        assert (200, True) in statuses  # the sleeping replica's reads: answered, and waking
        assert all(status != 409 or waking is None for status, waking in statuses)
    else:
        assert (409, None) in statuses
        assert all(waking is not True for _, waking in statuses)


# --- client requests once outside the contract (issue 10 #8, landed by the client) -------------------------


async def _client_call(call: Callable[[Recorded], Awaitable[object]], contract: Contract) -> None:
    async for running in recorded("guide"):
        await call(running)
        requests = [
            str(v)
            for e in running.recorder.exchanges
            for v in contract.check(e)
            if v.kind in ("request-body", "query", "path")
        ]
        assert requests == []


async def _patch_mcp_config_alone(running: Recorded) -> None:
    mcps = running.client.environments.mcps
    http = await mcps.create(
        "global",
        name="docs",
        transport="http",
        config={"url": "https://docs.example.com/mcp", "headers": {"X-Team": "core"}},
    )
    updated = await mcps.update("global", http.id, config={"url": "https://docs.example.com/v2"})
    assert updated.config.model_dump()["url"] == "https://docs.example.com/v2"
    stdio = await mcps.create(
        "global", name="local", transport="stdio", config={"command": "npx", "args": ["-y"]}
    )
    await mcps.update("global", stdio.id, config={"command": "uvx"})


async def test_an_mcp_patch_sends_the_whole_config(contract: Contract) -> None:
    """Was a partial config (http without headers, stdio without args/env): the strict sandbox says 400."""
    await _client_call(_patch_mcp_config_alone, contract)


async def _clear_automation_description(running: Recorded) -> None:
    environments = await running.client.environments.list()
    automation = await running.client.automations.create(
        name="nightly",
        prompt="Upkeep",
        environment_id=environments[0].id,
        triggers=[AutomationTrigger.cron("0 3 * * *")],
        description="Nightly upkeep",
    )
    untyped_caller: dict[str, Any] = {"description": None}  # as a caller without a type checker would
    with pytest.raises(RequestValidationError, match="description"):
        await running.client.automations.update(automation.id, **untyped_caller)
    await running.client.automations.update(automation.id, description="", debounce_seconds=None)


async def test_an_automation_patch_sends_no_null_for_non_nullable_fields(contract: Contract) -> None:
    """Was `description: null` (also workspace_size, config): now refused before sending."""
    await _client_call(_clear_automation_description, contract)
