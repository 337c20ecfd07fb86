"""Automation runs over HTTP: executions finish with their replica's first turn."""

from __future__ import annotations

from typing import Any

import anyio
import httpx2
from config_helpers import EXECUTION, api, assert_shape, environment_named
from sandbox_helpers import eventually

from replicas_mcp.sandbox.serve import RunningSandbox

CRON = [{"type": "cron", "config": {"schedule": "0 6 * * *", "timezone": "UTC"}}]


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
        assert_shape(run, EXECUTION)
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
        results = [e for e in history.json()["events"] if e["type"] == "claude-result"]
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
