"""Automations over HTTP: CRUD, list filters and pagination, triggers that launch replicas, scope, tenancy."""

from __future__ import annotations

from typing import Any

import anyio
import httpx2

from replicas_mcp.sandbox.serve import RunningSandbox
from replicas_mcp.sandbox.world import DEFAULT_USER_ID

from ..helpers import assert_error
from .config_helpers import AUTOMATION, EXECUTION, PAGE, api, assert_exact_keys, environment_named

UNKNOWN = "00000000-0000-4000-8000-000000000000"
CRON = [{"type": "cron", "config": {"schedule": "30 6 * * *", "timezone": "America/New_York"}}]


async def _create(client: httpx2.AsyncClient, **fields: Any) -> dict[str, Any]:
    env = await environment_named(client, "api")
    body = {"name": "nightly", "prompt": "Update dependencies", "environment_id": env["id"], "triggers": CRON}
    response = await client.post("/v1/automations", json=body | fields)
    assert response.status_code == 201, response.text
    automation: dict[str, Any] = response.json()["automation"]
    return automation


async def test_crud(sandbox: RunningSandbox) -> None:
    async with api(sandbox, sandbox.org_key) as client:
        created = await _create(
            client, agent_provider="claude", model="opus[1m]", thinking_level="high", workspace_size="large"
        )
        assert_exact_keys(created, AUTOMATION)
        assert (created["cron_expression"], created["cron_timezone"]) == ("30 6 * * *", "America/New_York")
        assert created["cron_next_fire_at"].endswith("Z")
        fetched = await client.get(f"/v1/automations/{created['id']}")
        assert fetched.status_code == 200
        assert fetched.json() == {"automation": created}
        patched = await client.patch(
            f"/v1/automations/{created['id']}", json={"agent_provider": "codex", "enabled": False}
        )
        assert patched.status_code == 200
        body = patched.json()["automation"]
        assert_exact_keys(body, AUTOMATION)
        assert (body["agent_provider"], body["model"], body["thinking_level"], body["enabled"]) == (
            "codex",
            None,
            "high",
            False,
        )
        assert body["cron_next_fire_at"] is None
        # The guide's workspace_lifecycle_policy example value is accepted alongside the spec's.
        policy = await client.patch(
            f"/v1/automations/{created['id']}", json={"workspace_lifecycle_policy": "delete_when_done"}
        )
        assert policy.json()["automation"]["workspace_lifecycle_policy"] == "delete_when_done"
        deleted = await client.delete(f"/v1/automations/{created['id']}")
        assert deleted.status_code == 200
        assert deleted.json() == {"success": True}
        for call in (client.get, client.delete):
            assert_error(await call(f"/v1/automations/{created['id']}"), 404, contains="automation not found")
        assert_error(await client.patch(f"/v1/automations/{created['id']}", json={}), 404)


async def test_create_and_patch_errors(sandbox: RunningSandbox) -> None:
    async with api(sandbox, sandbox.org_key) as client:
        env = await environment_named(client, "api")
        base = {"name": "n", "prompt": "p", "environment_id": env["id"], "triggers": CRON}
        cases: list[tuple[dict[str, Any], str]] = [
            ({"name": "n", "prompt": "p", "triggers": CRON}, "environment_id"),
            (base | {"environment_id": UNKNOWN}, "environment not found"),
            (base | {"triggers": [{"type": "cron", "config": {"schedule": "every day"}}]}, "cron expression"),
            (
                base
                | {"triggers": [{"type": "cron", "config": {"schedule": "0 9 * * *", "timezone": "EST5"}}]},
                "iana",
            ),
            (
                base | {"triggers": [{"type": "github", "config": {"event": "pull_request.reopened"}}]},
                "event",
            ),
            (
                base | {"triggers": [{"type": "gitlab", "config": {"event": "merge_request.approved"}}]},
                "event",
            ),
            (base | {"debounce_seconds": -1}, "debounce_seconds"),
            (base | {"model": "sonnet"}, "agent_provider"),
            (base | {"scope": "user"}, "personal api key"),
        ]
        for body, text in cases:
            assert_error(await client.post("/v1/automations", json=body), 400, contains=text)
        assert_error(await client.post("/v1/automations", content=b"[]"), 400, contains="json object")
        created = await _create(client)
        url = f"/v1/automations/{created['id']}"
        assert_error(await client.patch(url, json={"name": None}), 400, contains="null")
        assert_error(await client.patch(url, json={"environment_id": UNKNOWN}), 400, contains="environment")
        assert_error(await client.patch(url, json={"thinking_level": "ultra"}), 400, contains="codex")
        web = await environment_named(client, "web")
        moved = await client.patch(url, json={"environment_id": web["id"]})
        assert moved.json()["automation"]["environment_id"] == web["id"]


async def test_list_filters_and_pagination(sandbox: RunningSandbox) -> None:
    async with api(sandbox, sandbox.org_key) as client:
        empty = (await client.get("/v1/automations")).json()
        assert empty == {"automations": [], "total": 0, "page": 1, "limit": 20, "totalPages": 0}
        for index in range(5):
            await _create(client, name=f"cron job {index}")
        review = await _create(
            client,
            name="PR Review",
            triggers=[{"type": "github", "config": {"event": "pull_request.opened"}}],
        )
        await client.patch(f"/v1/automations/{review['id']}", json={"enabled": False})
        page = (await client.get("/v1/automations", params={"page": 2, "limit": 4})).json()
        assert set(page) == PAGE | {"automations"}
        assert (page["total"], page["page"], page["limit"], page["totalPages"]) == (6, 2, 4, 2)
        assert [a["name"] for a in page["automations"]] == ["cron job 1", "cron job 0"]  # newest first
        for item in page["automations"]:
            assert_exact_keys(item, AUTOMATION)
        beyond = (await client.get("/v1/automations", params={"page": 9, "limit": 4})).json()
        assert beyond["automations"] == []
        assert beyond["totalPages"] == 2

        async def names(**params: Any) -> list[str]:
            return [
                a["name"] for a in (await client.get("/v1/automations", params=params)).json()["automations"]
            ]

        assert await names(trigger_type="github") == ["PR Review"]
        assert await names(trigger_type="slack") == []
        assert len(await names(trigger_type="all")) == 6
        assert await names(enabled="false") == ["PR Review"]
        assert len(await names(enabled="true")) == 5
        assert await names(search=" review ") == ["PR Review"]
        for params, text in (
            ({"trigger_type": "jira"}, "trigger_type"),
            ({"limit": 101}, "limit"),
            ({"limit": 0}, "limit"),
            ({"page": 0}, "page"),
            ({"page": "two"}, "page"),
            ({"enabled": "maybe"}, "enabled"),
            ({"scope": "team"}, "scope"),
            ({"scope": "user"}, "personal api key"),
        ):
            assert_error(await client.get("/v1/automations", params=params), 400, contains=text)


async def test_trigger_launches_a_replica_and_records_executions(sandbox: RunningSandbox) -> None:
    async with api(sandbox, sandbox.org_key) as client:
        automation = await _create(client, agent_provider="claude", model="sonnet")
        url = f"/v1/automations/{automation['id']}"
        with anyio.fail_after(10):
            first = await client.post(f"{url}/trigger", json={"payload": {"reason": "manual check"}})
            second = await client.post(f"{url}/trigger")  # the body is optional
        assert first.status_code == 200
        assert second.status_code == 200
        assert set(first.json()) == {"execution_id", "workspace_id"}
        replica = await client.get(f"/v1/replica/{first.json()['workspace_id']}")
        assert replica.status_code == 200
        assert replica.json()["replica"]["source"] == "automation"
        assert replica.json()["replica"]["name"].startswith("nightly-")
        runs = (await client.get(f"{url}/executions", params={"limit": 1})).json()
        assert (runs["total"], runs["page"], runs["limit"], runs["totalPages"]) == (2, 1, 1, 2)
        (latest,) = runs["executions"]
        assert_exact_keys(latest, EXECUTION)
        assert latest["id"] == second.json()["execution_id"]
        assert latest["status"] in ("running", "completed")
        older = (await client.get(f"{url}/executions", params={"limit": 1, "page": 2})).json()["executions"][
            0
        ]
        assert older["trigger_payload"] == {"source": "manual", "payload": {"reason": "manual check"}}
        assert older["config"] == {"capabilities": {"pr_followups": False}}
        assert_error(await client.get(f"{url}/executions", params={"limit": 500}), 400, contains="limit")
        assert_error(await client.get(f"/v1/automations/{UNKNOWN}/executions"), 404)
        assert_error(await client.post(f"/v1/automations/{UNKNOWN}/trigger"), 404)


async def test_only_cron_automations_trigger_manually(sandbox: RunningSandbox) -> None:
    async with api(sandbox, sandbox.org_key) as client:
        github = await _create(
            client, name="review", triggers=[{"type": "github", "config": {"event": "pull_request.opened"}}]
        )
        assert_error(
            await client.post(f"/v1/automations/{github['id']}/trigger", json={}), 400, contains="cron"
        )
        cron = await _create(client)
        await client.patch(f"/v1/automations/{cron['id']}", json={"enabled": False})
        assert_error(
            await client.post(f"/v1/automations/{cron['id']}/trigger", json={}), 400, contains="disabled"
        )
        assert_error(
            await client.post(f"/v1/automations/{cron['id']}/trigger", content=b"{oops"), 400, contains="json"
        )


async def test_personal_automations(sandbox: RunningSandbox) -> None:
    async with api(sandbox, sandbox.personal_key) as personal, api(sandbox, sandbox.org_key) as org:
        mine = await _create(personal, name="my digest", scope="user")
        assert mine["user_id"] == DEFAULT_USER_ID
        assert mine["created_by"] == DEFAULT_USER_ID
        shared = await _create(org, name="team digest")
        assert shared["user_id"] is None
        assert shared["created_by"] is None
        url = f"/v1/automations/{mine['id']}"
        assert_error(await org.get(url), 404)
        assert_error(await org.patch(url, json={"enabled": False}), 404)
        assert_error(await org.post(f"{url}/trigger", json={}), 404)
        assert_error(await org.get(f"{url}/executions"), 404)
        assert_error(await org.delete(url), 404)

        async def names(client: httpx2.AsyncClient, scope: str | None = None) -> list[str]:
            params = {"scope": scope} if scope else {}
            listed = (await client.get("/v1/automations", params=params)).json()["automations"]
            return [a["name"] for a in listed]

        assert await names(org) == ["team digest"]
        assert await names(org, "all") == ["team digest"]
        assert await names(personal) == ["team digest"]
        assert await names(personal, "user") == ["my digest"]
        assert await names(personal, "all") == ["team digest", "my digest"]
        with anyio.fail_after(10):
            run = await personal.post(f"{url}/trigger", json={})
        assert run.status_code == 200
        # Personal keys manage org automations too.
        assert (
            await personal.patch(f"/v1/automations/{shared['id']}", json={"enabled": False})
        ).status_code == 200
        assert (await personal.delete(url)).json() == {"success": True}


async def test_tenancy(sandbox: RunningSandbox) -> None:
    async with api(sandbox, sandbox.org_key) as acme, api(sandbox, sandbox.other_org_key) as globex:
        automation = await _create(acme)
        url = f"/v1/automations/{automation['id']}"
        assert (await globex.get("/v1/automations", params={"scope": "all"})).json()["total"] == 0
        assert_error(await globex.get(url), 404)
        assert_error(await globex.patch(url, json={"enabled": False}), 404)
        assert_error(await globex.post(f"{url}/trigger", json={}), 404)
        assert_error(await globex.get(f"{url}/executions"), 404)
        assert_error(await globex.delete(url), 404)
        # Globex cannot point an automation at Acme's environment either.
        stolen = await globex.post(
            "/v1/automations",
            json={
                "name": "x",
                "prompt": "y",
                "environment_id": automation["environment_id"],
                "triggers": CRON,
            },
        )
        assert_error(stolen, 400, contains="environment not found")
        assert (await acme.get(url)).json()["automation"]["enabled"] is True
