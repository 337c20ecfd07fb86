"""Automations that run offline: cron schedules fire by themselves; simulated repository events fire the
automations whose triggers match (`POST /_sandbox/events/{github|gitlab}`)."""

from __future__ import annotations

from typing import Any

import httpx2

from replicas_mcp.sandbox.serve import RunningSandbox, running_sandbox

from ..helpers import eventually
from .sandbox_helpers import client, environment_id, flat_history, list_item


async def create_automation(api: httpx2.AsyncClient, name: str, *triggers: dict[str, Any]) -> str:
    response = await api.post(
        "/v1/automations",
        json={
            "name": name,
            "prompt": f"{name}: do the work [[no-changes]]",
            "environment_id": await environment_id(api),
            "triggers": list(triggers),
        },
    )
    assert response.status_code == 201, response.text
    return str(response.json()["automation"]["id"])


async def executions(api: httpx2.AsyncClient, automation_id: str) -> list[dict[str, Any]]:
    response = await api.get(f"/v1/automations/{automation_id}/executions")
    assert response.status_code == 200, response.text
    runs: list[dict[str, Any]] = response.json()["executions"]
    return runs


async def test_a_cron_automation_fires_by_itself_on_the_scaled_clock() -> None:
    # At this scale a simulated minute is 60 ms: an every-minute schedule comes due almost at once.
    async with running_sandbox(time_scale=0.001) as sandbox, client(sandbox) as api:
        every_minute = {"type": "cron", "config": {"schedule": "* * * * *"}}
        automation_id = await create_automation(api, "minutely", every_minute)
        never_run = await create_automation(
            api, "yearly", {"type": "cron", "config": {"schedule": "0 0 1 1 *"}}
        )

        async def ran() -> bool:
            return bool(await executions(api, automation_id))

        await eventually(ran, timeout=5.0)
        patched = await api.patch(f"/v1/automations/{automation_id}", json={"enabled": False})
        assert patched.status_code == 200
        [first, *_] = reversed(await executions(api, automation_id))
        assert first["trigger_payload"]["source"] == "cron"
        assert first["workspace_id"] is not None
        replica = await list_item(api, first["workspace_id"])
        assert replica is not None
        assert replica["source"] == "automation"
        assert await executions(api, never_run) == []


async def test_a_simulated_pull_request_fires_the_matching_github_automation(sandbox: RunningSandbox) -> None:
    async with client(sandbox) as api:
        repos = (await api.get("/v1/replica/repositories")).json()["repositories"]
        api_repo = next(repo for repo in repos if repo["name"].endswith("/api"))
        review = await create_automation(
            api,
            "review",
            {
                "type": "github",
                "config": {
                    "event": "pull_request.opened",
                    "repository_ids": [api_repo["id"]],
                    "excluded_actors": ["dependabot[bot]"],
                },
            },
        )
        on_close = await create_automation(
            api, "cleanup", {"type": "github", "config": {"event": "pull_request.closed"}}
        )
        on_gitlab = await create_automation(
            api, "mr", {"type": "gitlab", "config": {"event": "merge_request.opened"}}
        )

        opened = {
            "event": "pull_request.opened",
            "repository": api_repo["name"],
            "number": 7,
            "title": "Add /health",
        }
        response = await api.post("/_sandbox/events/github", json=opened)
        assert response.status_code == 200, response.text
        [fired] = response.json()["fired"]
        assert fired["automation_id"] == review
        [run] = await executions(api, review)
        assert run["id"] == fired["execution_id"]
        payload = run["trigger_payload"]
        assert payload["event"] == "pull_request.opened"
        assert payload["number"] == 7
        assert payload["url"].endswith("/pull/7")
        assert await executions(api, on_close) == []
        assert await executions(api, on_gitlab) == []

        async def first_message() -> str:
            history = await api.get(f"/v1/replica/{run['workspace_id']}/history")
            events = flat_history(history.json())["events"] if history.status_code == 200 else []
            return str(events[0]["payload"]["message"]["content"][0]["text"]) if events else ""

        async def prompted() -> bool:
            return bool(await first_message())

        await eventually(prompted)
        first_message_text = await first_message()
        assert "pull request #7" in first_message_text

        by_bot = opened | {"actor": "@Dependabot[bot]"}
        assert (await api.post("/_sandbox/events/github", json=by_bot)).json()["fired"] == []


async def test_simulated_events_are_checked(sandbox: RunningSandbox) -> None:
    async with client(sandbox) as api:
        unknown = await api.post(
            "/_sandbox/events/github", json={"event": "opened", "repository": "acme/api"}
        )
        assert unknown.status_code == 400
        no_repo = await api.post(
            "/_sandbox/events/github", json={"event": "push", "repository": "nobody/nothing"}
        )
        assert no_repo.status_code == 400
        command = await api.post(
            "/_sandbox/events/github", json={"event": "comment", "repository": "acme/api"}
        )
        assert command.status_code == 400
        assert "comment" in command.json()["error"]
        push = await api.post("/_sandbox/events/gitlab", json={"event": "push", "repository": "acme/web"})
        assert push.json() == {"event": "merge_request.updated", "fired": []}
        assert (await api.post("/_sandbox/events/bitbucket", json={})).status_code == 404
