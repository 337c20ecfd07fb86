"""Replicas: create, list, get, delete, wake — shapes, status codes and every documented error."""

from __future__ import annotations

from typing import Any

import anyio
import pytest

from replicas_mcp.sandbox.serve import RunningSandbox

from ..helpers import assert_error
from .sandbox_helpers import (
    DETAILS_KEYS,
    FIRE_AND_FORGET,
    LIST_ITEM_KEYS,
    REPOSITORY_STATUS_KEYS,
    assert_shape,
    client,
    create_replica,
    details,
    environment_id,
    flat_history,
    list_item,
    wait_idle,
    wait_status,
)


async def test_create_with_the_dated_version_returns_at_once_in_preparing(sandbox: RunningSandbox) -> None:
    async with client(sandbox) as api:
        env = await environment_id(api)
        response = await api.post(
            "/v1/replica",
            json={"name": "fix-auth-bug", "message": "Fix the login timeout", "environment_id": env},
            headers=FIRE_AND_FORGET,
        )
        assert response.status_code == 201
        replica = response.json()["replica"]
        assert_shape(replica, LIST_ITEM_KEYS)
        assert replica["status"] == "preparing"
        assert replica["source"] == "api"
        assert replica["repositories"]
        assert {"id", "name", "url"} <= set(replica["repositories"][0])
        await wait_status(api, replica["id"], "active")
        await wait_idle(api, replica["id"])  # the initial message ran as the first turn


async def test_create_without_the_version_header_blocks_until_active(sandbox: RunningSandbox) -> None:
    async with client(sandbox) as api:
        env = await environment_id(api)
        with anyio.fail_after(5):
            response = await api.post(
                "/v1/replica", json={"name": "legacy", "message": "hi", "environment_id": env}
            )
        assert response.status_code == 201
        assert response.json()["replica"]["status"] == "active"


async def test_the_global_alias_and_the_deprecated_repository_fields_are_accepted(
    sandbox: RunningSandbox,
) -> None:
    async with client(sandbox) as api:
        via_global = await create_replica(api, name="on-global", environment_id="global")
        assert via_global["status"] == "preparing"
        repositories = (await api.get("/v1/replica/repositories")).json()["repositories"]
        response = await api.post(
            "/v1/replica",
            json={"name": "old-style", "message": "hi", "repository_ids": [repositories[0]["id"]]},
            headers=FIRE_AND_FORGET,
        )
        assert response.status_code == 201
        assert response.json()["replica"]["repositories"][0]["id"] == repositories[0]["id"]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"name": "fix auth bug", "message": "x", "environment_id": "global"}, "Invalid replica name"),
        ({"message": "x", "environment_id": "global"}, "Missing required field 'name'"),
        ({"name": "n", "environment_id": "global"}, "Missing required field 'message'"),
        ({"name": "n", "message": "x"}, "Missing required field 'environment_id'"),
        ({"name": "n", "message": "x", "environment_id": "global", "coding_agent": "gpt"}, None),
        ({"name": "n", "message": "x", "environment_id": "global", "lifecycle_policy": "never"}, None),
        ({"name": "n", "message": "x", "environment_id": "global", "size": "huge"}, None),
        ({"name": "n", "message": "x", "environment_id": "global", "thinking_level": "extreme"}, None),
        ({"name": "n", "message": "x", "environment_id": "global", "webhook_url": "ftp://x"}, None),
        ({"name": "n", "message": "x", "environment_id": "global", "webhook_url": {"secret": "s"}}, None),
        ({"name": "n", "message": "x", "environment_id": "global", "images": [{"type": "video"}]}, None),
        ({"name": "n", "message": "x", "environment_id": "global", "plan_mode": "yes"}, None),
        ({"name": "n", "message": "x", "environment_id": "global", "config": []}, None),
    ],
)
async def test_bad_create_requests_are_400s_that_say_what_to_fix(
    sandbox: RunningSandbox, body: dict[str, Any], expected: str | None
) -> None:
    async with client(sandbox) as api:
        error = assert_error(await api.post("/v1/replica", json=body, headers=FIRE_AND_FORGET), 400, expected)
        assert error["details"]
        assert (await api.get("/v1/replica")).json()["total"] == 0  # nothing was created


async def test_create_refuses_a_malformed_body_and_an_unknown_version(sandbox: RunningSandbox) -> None:
    async with client(sandbox) as api:
        assert_error(await api.post("/v1/replica", content=b"{not json", headers=FIRE_AND_FORGET), 400)
        assert_error(await api.post("/v1/replica", json=["a"], headers=FIRE_AND_FORGET), 400)
        response = await api.post(
            "/v1/replica",
            json={"name": "n", "message": "x", "environment_id": "global"},
            headers={"X-Replicas-Api-Version": "1999-01-01"},
        )
        assert_error(response, 400, "Unsupported X-Replicas-Api-Version")


async def test_create_with_an_unknown_environment_is_a_404(sandbox: RunningSandbox) -> None:
    async with client(sandbox) as api:
        body = {"name": "n", "message": "x", "environment_id": "00000000-0000-4000-8000-000000000000"}
        assert_error(await api.post("/v1/replica", json=body, headers=FIRE_AND_FORGET), 404)
        deprecated = {
            "name": "n",
            "message": "x",
            "repository_set_id": "00000000-0000-4000-8000-000000000000",
        }
        assert_error(await api.post("/v1/replica", json=deprecated, headers=FIRE_AND_FORGET), 404)


async def test_list_pages_newest_first_with_totals_and_filters(sandbox: RunningSandbox) -> None:
    async with client(sandbox) as api:
        created = [await create_replica(api, name=f"task-{n}") for n in range(5)]
        page1 = (await api.get("/v1/replica", params={"page": 1, "limit": 2})).json()
        assert set(page1) == {"replicas", "total", "page", "limit", "total_pages"}
        assert (page1["total"], page1["page"], page1["limit"], page1["total_pages"]) == (5, 1, 2, 3)
        assert [item["name"] for item in page1["replicas"]] == ["task-4", "task-3"]
        page3 = (await api.get("/v1/replica", params={"page": 3, "limit": 2})).json()
        assert [item["name"] for item in page3["replicas"]] == ["task-0"]
        beyond = (await api.get("/v1/replica", params={"page": 9, "limit": 2})).json()
        assert beyond["replicas"] == []
        assert beyond["total"] == 5
        for item in page1["replicas"]:
            assert_shape(item, LIST_ITEM_KEYS)

        await wait_status(api, created[0]["id"], "active")
        sandbox.world.org().workspaces.force_status(
            sandbox.world.org().workspaces.get(created[0]["id"]), "sleeping"
        )
        sleeping = (await api.get("/v1/replica", params={"status": "sleeping"})).json()
        assert [item["id"] for item in sleeping["replicas"]] == [created[0]["id"]]
        by_source = (await api.get("/v1/replica", params={"source": "automation"})).json()
        assert by_source["total"] == 0
        assert (await api.get("/v1/replica", params={"source": "api"})).json()["total"] == 5


@pytest.mark.parametrize(
    "params",
    [{"page": "0"}, {"page": "x"}, {"limit": "0"}, {"limit": "101"}, {"status": "dead"}, {"source": "fax"}],
)
async def test_bad_list_parameters_are_400s(sandbox: RunningSandbox, params: dict[str, str]) -> None:
    async with client(sandbox) as api:
        assert_error(await api.get("/v1/replica", params=params), 400)


@pytest.mark.sandbox_mode(strict=False)  # the lenient sandbox's extensions (docs/sandbox.md)
async def test_get_returns_details_with_optional_environment_and_full_diffs(sandbox: RunningSandbox) -> None:
    async with client(sandbox) as api:
        replica = await create_replica(api, message="Fix the bug [[pr]]")
        await wait_idle(api, replica["id"])
        plain = await details(api, replica["id"])
        assert_shape(plain, DETAILS_KEYS)
        assert plain["environment"] is None
        assert plain["coding_agent"] == "claude"
        assert plain["waking"] is False
        status = plain["repository_statuses"][0]
        assert_shape(status, REPOSITORY_STATUS_KEYS)
        assert status["branch"] == "fix-auth-bug"
        assert status["start_hooks_completed"] is True
        assert status["git_diff"]["added"] > 0
        assert status["git_diff"]["full_diff"] == ""
        assert plain["lastChatMessage"]["text"] == "Fix the bug [[pr]]"

        full = await details(api, replica["id"], include="environment,diffs")
        assert full["repository_statuses"][0]["git_diff"]["full_diff"].startswith("diff --git")
        environment = full["environment"]
        assert {
            "engine_version",
            "env_vars_set",
            "skills_installed",
            "integrations",
            "coding_agents",
            "hooks",
        } <= set(environment)
        assert_error(await api.get(f"/v1/replica/{replica['id']}", params={"include": "secrets"}), 400)


async def test_get_of_an_unknown_replica_is_a_404(sandbox: RunningSandbox) -> None:
    async with client(sandbox) as api:
        assert_error(
            await api.get("/v1/replica/00000000-0000-4000-8000-000000000000"), 404, "Replica not found"
        )


async def test_delete_is_idempotent_for_this_orgs_replicas_and_404_otherwise(sandbox: RunningSandbox) -> None:
    async with client(sandbox) as api:
        replica = await create_replica(api)
        for _ in range(2):
            response = await api.delete(f"/v1/replica/{replica['id']}")
            assert response.status_code == 200
            assert response.json() == {"success": True}
        assert_error(await api.get(f"/v1/replica/{replica['id']}"), 404)
        assert await list_item(api, replica["id"]) is None
        assert_error(await api.delete("/v1/replica/00000000-0000-4000-8000-000000000000"), 404)


async def test_seeded_sandboxes_hand_out_the_same_ids(sandbox: RunningSandbox) -> None:
    from replicas_mcp.sandbox.serve import running_sandbox

    async with client(sandbox) as api:
        first = await create_replica(api)
    async with running_sandbox(seed=0, time_scale=0.05) as twin, client(twin) as twin_api:
        again = await create_replica(twin_api)
    assert again["id"] == first["id"]


async def test_a_pr_request_in_a_workspace_without_a_repository_says_no_pr_was_opened(
    sandbox: RunningSandbox,
) -> None:
    async with client(sandbox) as api:
        replica = await create_replica(
            api, name="badge", message="Add a README badge [[pr]]", environment_id="global"
        )
        await wait_idle(api, replica["id"])
        history = flat_history(
            (await api.get(f"/v1/replica/{replica['id']}/history", params={"limit": 1000})).json()
        )
        result = next(event for event in history["events"] if event["type"] == "claude-result")
        reply = result["payload"]["result"]
        assert "could not open a pull request because this workspace has no repository" in reply
        assert "opened a pull request" not in reply.replace("could not open a pull request", "")
        assert "committed" not in reply
        item = await list_item(api, replica["id"])
        assert item is not None
        assert item["pull_requests"] == []
