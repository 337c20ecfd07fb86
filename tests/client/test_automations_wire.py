"""What `client.automations` puts on the wire, against a scripted transport (sandbox tests cover
the same operations end to end)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import httpx2
import pytest

from replicas_mcp.client.automations import Automations
from replicas_mcp.client.errors import RequestValidationError
from replicas_mcp.client.models.automations import AutomationTrigger

from .client_helpers import scripted_core

Handler = Callable[[httpx2.Request], httpx2.Response]


class Recorder:
    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.seen: list[httpx2.Request] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.seen.append(request)
        return self.handler(request)

    def body(self, index: int = -1) -> Any:
        return json.loads(self.seen[index].content)


def automation(automation_id: str = "a1", **extra: Any) -> dict[str, Any]:
    return {
        "id": automation_id,
        "name": "nightly",
        "prompt": "p",
        "environment_id": "e1",
        "triggers": [{"type": "cron", "config": {"schedule": "0 3 * * *"}}],
        **extra,
    }


@pytest.fixture
def recorder() -> Recorder:
    return Recorder(lambda request: httpx2.Response(200, json={"automation": automation()}))


@pytest.fixture
async def automations(recorder: Recorder) -> AsyncIterator[Automations]:
    async with scripted_core(recorder) as core:
        yield Automations(core)


async def test_list_sends_filters(automations: Automations, recorder: Recorder) -> None:
    recorder.handler = lambda request: httpx2.Response(
        200, json={"automations": [automation()], "total": 1, "page": 2, "limit": 5, "totalPages": 1}
    )
    with anyio.fail_after(5):
        page = await automations.list(
            page=2, limit=5, trigger_type="cron", enabled=False, search="night", scope="all"
        )
    params = recorder.seen[0].url.params
    assert dict(params) == {
        "page": "2",
        "limit": "5",
        "trigger_type": "cron",
        "enabled": "false",
        "search": "night",
        "scope": "all",
    }
    assert page.totalPages == 1
    assert page.automations[0].id == "a1"


@pytest.mark.parametrize(("page", "limit"), [(0, 20), (1, 0), (1, 101)])
async def test_list_rejects_bad_paging(
    automations: Automations, recorder: Recorder, page: int, limit: int
) -> None:
    with pytest.raises(RequestValidationError):
        await automations.list(page=page, limit=limit)
    assert recorder.seen == []


async def test_iter_walks_every_page_once_even_when_pages_shift(
    automations: Automations, recorder: Recorder
) -> None:
    # Page 2 repeats a1 (an insert shifted the offsets): it must be yielded once.
    pages = {1: ["a1", "a2"], 2: ["a2", "a3"], 3: ["a4"]}

    def handler(request: httpx2.Request) -> httpx2.Response:
        number = int(request.url.params["page"])
        return httpx2.Response(
            200,
            json={
                "automations": [automation(i) for i in pages[number]],
                "total": 5,
                "page": number,
                "limit": 2,
                "totalPages": 3,
            },
        )

    recorder.handler = handler
    with anyio.fail_after(5):
        ids = [a.id async for a in automations.iter(page_size=2, scope="user")]
    assert ids == ["a1", "a2", "a3", "a4"]
    assert [r.url.params["scope"] for r in recorder.seen] == ["user"] * 3


async def test_create_body_and_trigger_models(automations: Automations, recorder: Recorder) -> None:
    with anyio.fail_after(5):
        await automations.create(
            name="pr-review",
            prompt="Review this PR",
            environment_id="e1",
            triggers=[
                AutomationTrigger.cron("0 9 * * 1-5", "UTC"),
                {"type": "github", "config": {"event": "x"}},
            ],
            scope="user",
            agent_provider="claude",
            model="opus[1m]",
            debounce_seconds=0,
        )
    assert recorder.body() == {
        "name": "pr-review",
        "prompt": "Review this PR",
        "environment_id": "e1",
        "scope": "user",
        "agent_provider": "claude",
        "model": "opus[1m]",
        "debounce_seconds": 0,
        "triggers": [
            {"type": "cron", "config": {"schedule": "0 9 * * 1-5", "timezone": "UTC"}},
            {"type": "github", "config": {"event": "x"}},
        ],
    }


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"triggers": []}, "at least one trigger"),
        ({"triggers": [{"type": "cron", "config": {"schedule": "every tuesday"}}]}, "not a valid cron"),
        ({"triggers": [{"type": "cron", "config": {}}]}, "needs config.schedule"),
        (
            {"triggers": [AutomationTrigger.cron("0 * * * *"), AutomationTrigger.cron("5 * * * *")]},
            "more than one cron",
        ),
        (
            {"triggers": [AutomationTrigger.github("pull_request.opened")] * 2},
            "more than one trigger for 'pull_request.opened'",
        ),
        ({"triggers": [{"type": "gitlab", "config": {}}]}, "needs config.event"),
        ({"model": "sonnet"}, "needs agent_provider"),
        ({"debounce_seconds": 86401}, "debounce_seconds"),
        ({"workspace_auto_stop_minutes": 2}, "workspace_auto_stop_minutes"),
        ({"name": "  "}, "name"),
    ],
)
async def test_create_checks_before_sending(
    automations: Automations, recorder: Recorder, overrides: dict[str, Any], message: str
) -> None:
    fields: dict[str, Any] = {
        "name": "n",
        "prompt": "p",
        "environment_id": "e1",
        "triggers": [AutomationTrigger.cron("0 9 * * *")],
        **overrides,
    }
    with pytest.raises(RequestValidationError, match=message):
        await automations.create(**fields)
    assert recorder.seen == []


async def test_update_null_clears_and_unset_omits(automations: Automations, recorder: Recorder) -> None:
    with anyio.fail_after(5):
        await automations.update("a1", model=None, thinking_level=None, enabled=False)
    assert recorder.seen[-1].method == "PATCH"
    assert recorder.body() == {"model": None, "thinking_level": None, "enabled": False}
    with anyio.fail_after(5):
        await automations.update("a1", triggers=[{"type": "custom", "config": {}}])
    assert recorder.body() == {"triggers": [{"type": "custom", "config": {}}]}
    with pytest.raises(RequestValidationError, match="nothing to update"):
        await automations.update("a1")
    with pytest.raises(RequestValidationError):
        await automations.update("a1", triggers=[])


def cleared(field: str) -> dict[str, Any]:
    return {field: None}


@pytest.mark.parametrize(
    "field", ["description", "workspace_size", "config", "name", "prompt", "environment_id", "enabled"]
)
async def test_update_never_sends_null_for_a_field_the_contract_does_not_let_be_null(
    automations: Automations, recorder: Recorder, field: str
) -> None:
    with pytest.raises(RequestValidationError, match=f"{field} cannot be cleared"):
        await automations.update("a1", **cleared(field))
    assert recorder.seen == []


@pytest.mark.parametrize(
    "field",
    [
        "debounce_seconds",
        "workspace_auto_stop_minutes",
        "agent_provider",
        "model",
        "thinking_level",
        "goal_mode",
        "fast_mode",
    ],
)
async def test_update_sends_null_where_the_contract_allows_it(
    automations: Automations, recorder: Recorder, field: str
) -> None:
    with anyio.fail_after(5):
        await automations.update("a1", **cleared(field))
    assert recorder.body() == {field: None}


async def test_trigger_executions_and_delete(automations: Automations, recorder: Recorder) -> None:
    def handler(request: httpx2.Request) -> httpx2.Response:
        path = request.url.path
        if path.endswith("/trigger"):
            return httpx2.Response(200, json={"execution_id": "x9", "workspace_id": "w9"})
        if path.endswith("/executions"):
            number = int(request.url.params["page"])
            items = [{"id": f"x{number}{i}", "automation_id": "a1", "status": "completed"} for i in range(2)]
            return httpx2.Response(
                200, json={"executions": items, "total": 3, "page": number, "limit": 2, "totalPages": 2}
            )
        return httpx2.Response(200, json={"success": True})

    recorder.handler = handler
    with anyio.fail_after(5):
        result = await automations.trigger("a1")
        assert recorder.body() == {}
        await automations.trigger("a1", {"reason": "manual"})
        assert recorder.body() == {"payload": {"reason": "manual"}}
        first = await automations.executions("a1", page=1, limit=2)
        every = [e.id async for e in automations.iter_executions("a1", page_size=2)]
        await automations.delete("a1")
    assert result.execution_id == "x9"
    assert first.total == 3
    assert len(first.executions) == 2
    assert every == ["x10", "x11", "x20", "x21"]
    assert recorder.seen[-1].method == "DELETE"
