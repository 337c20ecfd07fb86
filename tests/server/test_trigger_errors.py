"""Model-eye s4 #8: trigger_automation on an automation it cannot run says why in plain words, and a 400
that no argument caused does not ask to "fix them and retry"."""

from __future__ import annotations

from typing import Any

from mcp import Client

from replicas_mcp.client import errors as e
from replicas_mcp.sandbox.serve import RunningSandbox
from replicas_mcp.server.errors import describe

from .helpers import bound_environment, call, call_error, connect, data


async def _automation(client: Client, env: str, trigger: dict[str, Any]) -> str:
    saved = await call(
        client,
        "save_automation",
        {
            "name": f"auto-{trigger['type']}",
            "prompt": "Review it",
            "environment_id": env,
            "triggers": [trigger],
        },
    )
    return str(data(saved)["id"])


async def test_an_automation_on_an_event_cannot_be_triggered_and_says_what_it_runs_on(
    sandbox: RunningSandbox,
) -> None:
    async with connect(sandbox, toolsets=("all",), confirm_destructive="never") as client:
        env = await bound_environment(client)
        github = {"type": "github", "config": {"event": "pull_request.opened"}}
        message = await call_error(
            client, "trigger_automation", {"automation_id": await _automation(client, env, github)}
        )
        assert "runs on github pull_request.opened" in message
        assert "only automations with a cron trigger" in message
        assert "'pr'" not in message  # an argument this tool does not have
        assert "Fix them" not in message


async def test_a_disabled_automation_is_refused_without_blaming_the_arguments(
    sandbox: RunningSandbox,
) -> None:
    async with connect(sandbox, toolsets=("all",), confirm_destructive="never") as client:
        env = await bound_environment(client)
        aid = await _automation(client, env, {"type": "cron", "config": {"schedule": "0 3 * * *"}})
        await call(client, "save_automation", {"automation_id": aid, "enabled": False})
        message = await call_error(client, "trigger_automation", {"automation_id": aid})
    assert "disabled" in message
    assert "save_automation" in message  # the API's remedy, its REST request named as the tool
    assert "Fix them" not in message


def test_only_a_400_about_the_arguments_asks_to_fix_them() -> None:
    bad_field = e.BadRequestError(
        "x", status=400, error="Invalid field 'name'", details="'name' must be a string."
    )
    assert describe(bad_field).endswith("Fix them and retry.")
    for refusal in (
        "The Global environment's metadata cannot be edited",
        "Personal automations need a personal API key",
        "This personal environment inherits its binding from its source",
    ):
        said = describe(e.BadRequestError("x", status=400, error=refusal))
        assert refusal.rstrip(".") in said
        assert "Fix them" not in said
