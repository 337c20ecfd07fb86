"""Environments over HTTP: list/get/create/PATCH/DELETE, the `global` alias, scopes and tenancy."""

from __future__ import annotations

from typing import Any

import httpx2

from replicas_mcp.sandbox.serve import RunningSandbox
from replicas_mcp.sandbox.world import DEFAULT_USER_ID

from ..helpers import assert_error
from .config_helpers import ENVIRONMENT, SEARCH_SKILL, api, assert_exact_keys, environment_named

UNKNOWN = "00000000-0000-4000-8000-000000000000"


async def _repo_ids(client: httpx2.AsyncClient) -> dict[str, str]:
    repos = (await client.get("/v1/replica/repositories")).json()["repositories"]
    return {repo["name"].split("/")[1]: repo["id"] for repo in repos}


async def test_list_and_get_with_the_global_alias(sandbox: RunningSandbox) -> None:
    async with api(sandbox, sandbox.org_key) as client:
        listed = await client.get("/v1/environments")
        assert listed.status_code == 200
        envs = listed.json()["environments"]
        for env in envs:
            assert_exact_keys(env, ENVIRONMENT)
        assert [e["name"] for e in envs] == ["Global", "api", "web", "platform"]
        api_env = envs[1]
        assert (
            api_env["variable_count"],
            api_env["file_count"],
            api_env["skill_count"],
            api_env["mcp_count"],
        ) == (
            1,
            1,
            1,
            1,
        )
        glob = await client.get("/v1/environments/global")
        assert glob.status_code == 200
        assert glob.json()["environment"] == envs[0]
        assert glob.json()["environment"]["is_global"] is True
        by_id = await client.get(f"/v1/environments/{envs[0]['id']}")
        assert by_id.json() == glob.json()
        assert_error(await client.get(f"/v1/environments/{UNKNOWN}"), 404, contains="not found")
        assert_error(await client.get("/v1/environments", params={"scope": "team"}), 400, contains="scope")


async def test_create_update_delete(sandbox: RunningSandbox) -> None:
    async with api(sandbox, sandbox.org_key) as client:
        repos = await _repo_ids(client)
        created = await client.post(
            "/v1/environments",
            json={"name": "infra", "description": "Terraform", "repository_id": repos["infra"]},
        )
        assert created.status_code == 201
        env = created.json()["environment"]
        assert_exact_keys(env, ENVIRONMENT)
        assert (env["name"], env["repository_id"], env["user_id"], env["is_global"]) == (
            "infra",
            repos["infra"],
            None,
            False,
        )
        # New environments start with an enabled warm pool (guide).
        pool = (await client.get(f"/v1/environments/{env['id']}/warm-hooks")).json()["warm_pool"]
        assert pool["enabled"] is True
        patched = await client.patch(
            f"/v1/environments/{env['id']}",
            json={"system_prompt": "Plan first.", "description": None, "repository_set_id": None},
        )
        assert patched.status_code == 200
        body = patched.json()["environment"]
        assert (body["system_prompt"], body["description"], body["repository_id"]) == (
            "Plan first.",
            None,
            repos["infra"],
        )
        assert body["updated_at"] >= env["updated_at"]
        rebound = await client.patch(f"/v1/environments/{env['id']}", json={"repository_id": None})
        assert rebound.json()["environment"]["repository_id"] is None
        deleted = await client.delete(f"/v1/environments/{env['id']}")
        assert deleted.status_code == 200
        assert deleted.json() == {"success": True}
        assert_error(await client.get(f"/v1/environments/{env['id']}"), 404)
        assert_error(await client.delete(f"/v1/environments/{env['id']}"), 404)
        assert_error(await client.patch(f"/v1/environments/{env['id']}", json={"name": "x"}), 404)


async def test_create_errors(sandbox: RunningSandbox) -> None:
    async with api(sandbox, sandbox.org_key) as client:
        repos = await _repo_ids(client)
        sets = (await client.get("/v1/replica/repository-sets")).json()["repository_sets"]
        cases: list[tuple[Any, int, str]] = [
            ({}, 400, "name"),
            ({"name": ""}, 400, "empty"),
            ({"name": 42}, 400, "string"),
            (
                {"name": "x", "repository_id": repos["api"], "repository_set_id": sets[0]["id"]},
                400,
                "exclusive",
            ),
            ({"name": "x", "repository_id": UNKNOWN}, 400, "repository not found"),
            ({"name": "x", "repository_set_id": UNKNOWN}, 400, "repository set not found"),
            ({"name": "x", "scope": "team"}, 400, "scope"),
            ({"name": "x", "scope": "user"}, 400, "personal api key"),
            ({"name": "x", "source_environment_id": UNKNOWN}, 400, "source_environment_id"),
            ({"name": "api"}, 409, "already exists"),
            ([1, 2], 400, "json object"),
        ]
        for body, status, text in cases:
            assert_error(await client.post("/v1/environments", json=body), status, contains=text)
        assert_error(await client.post("/v1/environments", content=b"{"), 400, contains="not valid json")


async def test_global_cannot_be_patched_or_deleted(sandbox: RunningSandbox) -> None:
    async with api(sandbox, sandbox.org_key) as client:
        glob = (await client.get("/v1/environments/global")).json()["environment"]
        for target in ("global", glob["id"]):
            assert_error(
                await client.patch(f"/v1/environments/{target}", json={"name": "G"}), 400, contains="global"
            )
            assert_error(await client.delete(f"/v1/environments/{target}"), 409, contains="global")


async def test_patch_errors(sandbox: RunningSandbox) -> None:
    async with api(sandbox, sandbox.org_key) as client:
        repos = await _repo_ids(client)
        web = await environment_named(client, "web")
        url = f"/v1/environments/{web['id']}"
        assert_error(await client.patch(url, json={"name": "api"}), 409, contains="already exists")
        assert_error(
            await client.patch(url, json={"repository_id": UNKNOWN}), 400, contains="repository not found"
        )
        sets = (await client.get("/v1/replica/repository-sets")).json()["repository_sets"]
        both = {"repository_id": repos["web"], "repository_set_id": sets[0]["id"]}
        assert_error(await client.patch(url, json=both), 400, contains="exclusive")
        assert_error(await client.patch(url, json={"personal_preferences": "x"}), 400, contains="personal")
        assert_error(
            await client.patch(url, json={"mobile_testing_enabled": "yes"}), 400, contains="true or false"
        )
        moved = await client.patch(url, json={"repository_set_id": sets[0]["id"]})
        assert (
            moved.json()["environment"]["repository_set_id"],
            moved.json()["environment"]["repository_id"],
        ) == (
            sets[0]["id"],
            None,
        )


async def test_delete_is_refused_while_an_automation_uses_it(sandbox: RunningSandbox) -> None:
    async with api(sandbox, sandbox.org_key) as client:
        web = await environment_named(client, "web")
        automation = await client.post(
            "/v1/automations",
            json={
                "name": "nightly",
                "prompt": "Update dependencies",
                "environment_id": web["id"],
                "triggers": [{"type": "cron", "config": {"schedule": "0 2 * * *"}}],
            },
        )
        assert automation.status_code == 201
        assert_error(await client.delete(f"/v1/environments/{web['id']}"), 409, contains="nightly")
        await client.delete(f"/v1/automations/{automation.json()['automation']['id']}")
        assert (await client.delete(f"/v1/environments/{web['id']}")).status_code == 200


async def test_personal_environments_and_scopes(sandbox: RunningSandbox) -> None:
    async with api(sandbox, sandbox.personal_key) as personal, api(sandbox, sandbox.org_key) as org:
        api_env = await environment_named(org, "api")
        created = await personal.post(
            "/v1/environments",
            json={"name": "my-api", "scope": "user", "source_environment_id": api_env["id"]},
        )
        assert created.status_code == 201
        mine = created.json()["environment"]
        assert mine["user_id"] == DEFAULT_USER_ID
        assert mine["source_environment_id"] == api_env["id"]
        assert mine["repository_id"] == api_env["repository_id"]
        assert [
            e["name"] for e in (await personal.get("/v1/environments?scope=user")).json()["environments"]
        ] == ["my-api"]
        all_names = [
            e["name"] for e in (await personal.get("/v1/environments?scope=all")).json()["environments"]
        ]
        assert all_names == ["Global", "api", "web", "platform", "my-api"]
        assert "my-api" not in [
            e["name"] for e in (await personal.get("/v1/environments")).json()["environments"]
        ]
        # The organization key cannot see or touch it.
        assert (await org.get("/v1/environments?scope=all")).json()["environments"][-1]["name"] == "platform"
        assert_error(await org.get(f"/v1/environments/{mine['id']}"), 404)
        assert_error(await org.delete(f"/v1/environments/{mine['id']}"), 404)
        assert_error(await org.get(f"/v1/environments/{mine['id']}/variables"), 400, contains="not found")
        # Source-backed: binding is locked, preferences are not.
        locked = await personal.patch(f"/v1/environments/{mine['id']}", json={"system_prompt": "mine"})
        assert_error(locked, 400, contains="source")
        prefs = await personal.patch(
            f"/v1/environments/{mine['id']}", json={"personal_preferences": "Be brief."}
        )
        assert prefs.json()["environment"]["personal_preferences"] == "Be brief."
        assert_error(await org.delete(f"/v1/environments/{api_env['id']}"), 409, contains="inherit")
        assert (await personal.delete(f"/v1/environments/{mine['id']}")).json() == {"success": True}


async def test_tenancy(sandbox: RunningSandbox) -> None:
    async with api(sandbox, sandbox.org_key) as acme, api(sandbox, sandbox.other_org_key) as globex:
        acme_env = await environment_named(acme, "api")
        acme_global = (await acme.get("/v1/environments/global")).json()["environment"]
        globex_envs = (await globex.get("/v1/environments?scope=all")).json()["environments"]
        assert {e["id"] for e in globex_envs}.isdisjoint({acme_env["id"], acme_global["id"]})
        assert all(e["organization_id"] != acme_env["organization_id"] for e in globex_envs)
        for path in (f"/v1/environments/{acme_env['id']}", f"/v1/environments/{acme_global['id']}"):
            assert_error(await globex.get(path), 404)
            assert_error(await globex.patch(path, json={"name": "mine"}), 404)
            assert_error(await globex.delete(path), 404)
        assert_error(
            await globex.get(f"/v1/environments/{acme_env['id']}/variables"), 400, contains="not found"
        )
        assert_error(await globex.get(f"/v1/environments/{acme_env['id']}/repo-skills"), 404)
        created = await acme.post("/v1/environments", json={"name": "acme-only"})
        assert created.status_code == 201
        globex_created = await globex.post("/v1/environments", json={"name": "acme-only"})
        assert globex_created.status_code == 201  # names are per organization


async def test_skill_catalog_search(sandbox: RunningSandbox) -> None:
    async with api(sandbox, sandbox.org_key) as client:
        docker = await client.get("/v1/environment-skills/search", params={"q": "docker"})
        assert docker.status_code == 200
        skills = docker.json()["skills"]
        assert [s["slug"] for s in skills] == ["docker"]
        assert_exact_keys(skills[0], SEARCH_SKILL)
        assert skills[0]["source"] == "https://skills.sh/skill/docker"
        popular = (await client.get("/v1/environment-skills/search")).json()["skills"]
        assert len(popular) == 10
        assert [s["installs"] for s in popular] == sorted((s["installs"] for s in popular), reverse=True)
        multi = (await client.get("/v1/environment-skills/search", params={"q": "python api"})).json()[
            "skills"
        ]
        assert [s["slug"] for s in multi] == ["fastapi"]
        assert (await client.get("/v1/environment-skills/search", params={"q": "zzz"})).json() == {
            "skills": []
        }
