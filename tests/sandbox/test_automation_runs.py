"""Automation runs over HTTP: executions finish with their replica's first turn; custom webhooks fire them."""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx2

from replicas_mcp.sandbox.serve import RunningSandbox

from ..helpers import assert_error, eventually
from .config_helpers import EXECUTION, api, assert_exact_keys, environment_named
from .sandbox_helpers import flat_history

CRON = [{"type": "cron", "config": {"schedule": "0 6 * * *", "timezone": "UTC"}}]
CUSTOM = [{"type": "custom"}]
LIMIT = 256 * 1024


async def _automation(client: httpx2.AsyncClient, prompt: str, **fields: Any) -> dict[str, Any]:
    env = await environment_named(client, "api")
    body = {"name": "nightly", "prompt": prompt, "environment_id": env["id"], "triggers": CRON} | fields
    response = await client.post("/v1/automations", json=body)
    assert response.status_code == 201, response.text
    automation: dict[str, Any] = response.json()["automation"]
    return automation


async def _executions(client: httpx2.AsyncClient, automation_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/v1/automations/{automation_id}/executions")
    assert response.status_code == 200, response.text
    runs: list[dict[str, Any]] = response.json()["executions"]
    for run in runs:
        assert_exact_keys(run, EXECUTION)
    return runs


async def _finished(client: httpx2.AsyncClient, automation_id: str) -> dict[str, Any]:
    """The automation's latest execution, once it has completed or failed."""

    async def done() -> bool:
        return (await _executions(client, automation_id))[0]["status"] in ("completed", "failed")

    await eventually(done, timeout=10)
    return (await _executions(client, automation_id))[0]


async def _run_to_the_end(client: httpx2.AsyncClient, prompt: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Trigger a new cron automation with `prompt`: its execution as listed while running, and once final."""
    automation = await _automation(client, prompt)
    with anyio.fail_after(10):
        triggered = await client.post(f"/v1/automations/{automation['id']}/trigger", json={})
    assert triggered.status_code == 200, triggered.text
    (running,) = await _executions(client, automation["id"])
    final = await _finished(client, automation["id"])
    assert final["id"] == running["id"] == triggered.json()["execution_id"]
    assert final["workspace_id"] == triggered.json()["workspace_id"]
    return running, final


async def test_an_execution_completes_when_its_replica_finishes_the_first_turn(
    sandbox: RunningSandbox,
) -> None:
    async with api(sandbox, sandbox.org_key) as client:
        running, final = await _run_to_the_end(client, "Bump the lockfile")
        assert (running["status"], running["completed_at"], running["error"]) == ("running", None, None)
        assert (final["status"], final["error"]) == ("completed", None)
        assert final["triggered_at"] <= final["completed_at"]
        assert final["completed_at"].endswith("Z")
        history = await client.get(f"/v1/replica/{final['workspace_id']}/history")
        results = [e for e in flat_history(history.json())["events"] if e["type"] == "claude-result"]
        assert [r["payload"]["is_error"] for r in results] == [False]


async def test_an_execution_fails_when_its_workspace_dies(sandbox: RunningSandbox) -> None:
    async with api(sandbox, sandbox.org_key) as client:
        _, final = await _run_to_the_end(client, "Bump the lockfile [[error: disk full]]")
        assert (final["status"], final["error"]) == ("failed", "disk full")
        assert final["completed_at"] is not None
        replica = (await client.get(f"/v1/replica/{final['workspace_id']}")).json()["replica"]
        assert replica["status"] == "error"


async def test_an_execution_fails_when_the_agents_turn_fails(sandbox: RunningSandbox) -> None:
    async with api(sandbox, sandbox.org_key) as client:
        _, final = await _run_to_the_end(client, "Run the migrations [[turn-error]]")
        assert final["status"] == "failed"
        assert final["error"].startswith("The agent's turn failed: I could not finish")
        replica = (await client.get(f"/v1/replica/{final['workspace_id']}")).json()["replica"]
        assert replica["status"] == "active"  # a failed turn leaves the workspace up


async def test_an_execution_fails_when_its_replica_is_deleted_before_the_prompt_ran(
    sandbox: RunningSandbox,
) -> None:
    async with api(sandbox, sandbox.org_key) as client:
        automation = await _automation(client, "Bump the lockfile")
        triggered = await client.post(f"/v1/automations/{automation['id']}/trigger", json={})
        deleted = await client.delete(f"/v1/replica/{triggered.json()['workspace_id']}")  # still booting
        assert deleted.json() == {"success": True}
        (run,) = await _executions(client, automation["id"])
        assert run["status"] == "failed"
        assert "deleted" in run["error"]
        assert run["completed_at"] is not None


# ------------------------------------------------------------------------------------ custom webhooks
async def _automation_replicas(client: httpx2.AsyncClient) -> list[dict[str, Any]]:
    response = await client.get("/v1/replica", params={"source": "automation"})
    assert response.status_code == 200, response.text
    replicas: list[dict[str, Any]] = response.json()["replicas"]
    return replicas


async def test_a_custom_webhook_fires_without_a_key_in_the_tokens_organization_only(
    sandbox: RunningSandbox,
) -> None:
    async with (
        api(sandbox, sandbox.org_key) as acme,
        api(sandbox, sandbox.other_org_key) as globex,
        httpx2.AsyncClient(base_url=sandbox.base_url, timeout=10.0) as anonymous,
    ):
        acme_hook = await _automation(acme, "Triage the alert", triggers=CUSTOM)
        globex_hook = await _automation(globex, "Triage the alert", triggers=CUSTOM)
        assert acme_hook["webhook_token"] != globex_hook["webhook_token"]

        fired = await anonymous.post(
            f"/v1/automations/webhook/{acme_hook['webhook_token']}", json={"alert": "disk", "level": 3}
        )
        assert fired.status_code == 202, fired.text
        assert fired.json() == {"accepted": True}
        (replica,) = await _automation_replicas(acme)
        assert await _automation_replicas(globex) == []
        (run,) = await _executions(acme, acme_hook["id"])
        assert run["workspace_id"] == replica["id"]
        assert run["trigger_payload"] == {"source": "webhook", "payload": {"alert": "disk", "level": 3}}
        assert await _executions(globex, globex_hook["id"]) == []
        assert (await _finished(acme, acme_hook["id"]))["status"] == "completed"
        history = await acme.get(f"/v1/replica/{replica['id']}/history", params={"limit": 1000})
        prompt = flat_history(history.json())["events"][0]["payload"]["message"]["content"][0]["text"]
        assert prompt.startswith("Triage the alert")
        assert "## Trigger Payload" in prompt
        assert '"alert": "disk"' in prompt

        # A key of another organization changes nothing: the token alone decides where the run goes.
        text = await globex.post(
            f"/v1/automations/webhook/{globex_hook['webhook_token']}",
            content=b"deploy finished",
            headers={"Content-Type": "text/plain"},
        )
        assert text.status_code == 202, text.text
        (globex_run,) = await _executions(globex, globex_hook["id"])
        assert globex_run["trigger_payload"] == {"source": "webhook", "payload": {"raw": "deploy finished"}}
        assert len(await _automation_replicas(globex)) == 1
        assert len(await _automation_replicas(acme)) == 1


async def test_unknown_disabled_and_triggerless_tokens_are_the_same_404(sandbox: RunningSandbox) -> None:
    async with (
        api(sandbox, sandbox.org_key) as acme,
        httpx2.AsyncClient(base_url=sandbox.base_url, timeout=10.0) as anonymous,
    ):
        hook = await _automation(acme, "Triage", triggers=CUSTOM)
        token = hook["webhook_token"]
        unknown = assert_error(await anonymous.post("/v1/automations/webhook/whk_nope", json={}), 404)
        # Globex exists, has no automations, and an unknown token still says nothing about it.
        assert "globex" not in json.dumps(unknown).lower()
        await acme.patch(f"/v1/automations/{hook['id']}", json={"enabled": False})
        disabled = assert_error(await anonymous.post(f"/v1/automations/webhook/{token}", json={}), 404)
        await acme.patch(f"/v1/automations/{hook['id']}", json={"enabled": True, "triggers": CRON})
        triggerless = assert_error(await anonymous.post(f"/v1/automations/webhook/{token}", json={}), 404)
        assert unknown == disabled == triggerless
        # `webhook/trigger` is a token too, not the manual trigger of an automation called "webhook".
        assert assert_error(await anonymous.post("/v1/automations/webhook/trigger"), 404) == unknown
        assert await _automation_replicas(acme) == []
        # Only POST on exactly that path is public.
        for method, path in (
            ("GET", f"/v1/automations/webhook/{token}"),
            ("POST", f"/v1/automations/webhook/{token}/extra"),
            ("POST", "/v1/automations/webhook"),
        ):
            assert_error(await anonymous.request(method, path), 401)


async def test_webhook_bodies_over_256_kb_are_a_413(sandbox: RunningSandbox) -> None:
    async with (
        api(sandbox, sandbox.org_key) as acme,
        httpx2.AsyncClient(base_url=sandbox.base_url, timeout=10.0) as anonymous,
    ):
        hook = await _automation(acme, "Summarise", triggers=CUSTOM)
        url = f"/v1/automations/webhook/{hook['webhook_token']}"
        too_large = await anonymous.post(url, content=b"x" * (LIMIT + 1))
        assert_error(too_large, 413, contains="256 KB")
        # An oversized body is refused before the token is looked at.
        unknown = await anonymous.post("/v1/automations/webhook/whk_nope", content=b"x" * (LIMIT + 1))
        assert_error(unknown, 413)
        assert await _executions(acme, hook["id"]) == []
        exactly = json.dumps({"log": "y" * (LIMIT - 11)}).encode()
        assert len(exactly) == LIMIT
        assert (await anonymous.post(url, content=exactly)).status_code == 202
        (run,) = await _executions(acme, hook["id"])
        assert len(run["trigger_payload"]["payload"]["log"]) == LIMIT - 11
        # The empty body is allowed (the request body is optional): an empty payload.
        assert (await anonymous.post(url)).status_code == 202
        latest = (await _executions(acme, hook["id"]))[0]
        assert latest["trigger_payload"] == {"source": "webhook", "payload": {}}
