"""Repositories and repository sets over HTTP: seeded per organization, never shared."""

from __future__ import annotations

from replicas_mcp.sandbox.serve import RunningSandbox

from ..helpers import assert_error
from .config_helpers import REPOSITORY, REPOSITORY_SET, api, assert_exact_keys


async def test_seeded_repositories_and_sets(sandbox: RunningSandbox) -> None:
    async with api(sandbox, sandbox.org_key) as client:
        repos = await client.get("/v1/replica/repositories")
        sets = await client.get("/v1/replica/repository-sets")
    assert repos.status_code == 200
    assert sets.status_code == 200
    assert set(repos.json()) == {"repositories"}
    repositories = repos.json()["repositories"]
    for repo in repositories:
        assert_exact_keys(repo, REPOSITORY)
    assert [r["name"] for r in repositories] == ["acme/api", "acme/web", "acme/infra"]
    assert repositories[0]["url"] == "https://github.com/acme/api"
    assert {r["default_branch"] for r in repositories} == {"main"}
    (platform,) = sets.json()["repository_sets"]
    assert_exact_keys(platform, REPOSITORY_SET)
    assert platform["name"] == "platform"
    assert [r["name"] for r in platform["repositories"]] == ["acme/api", "acme/web"]
    for repo in platform["repositories"]:
        assert_exact_keys(repo, REPOSITORY)


async def test_each_organization_has_its_own(sandbox: RunningSandbox) -> None:
    async with api(sandbox, sandbox.org_key) as acme, api(sandbox, sandbox.other_org_key) as globex:
        acme_repos = (await acme.get("/v1/replica/repositories")).json()["repositories"]
        globex_repos = (await globex.get("/v1/replica/repositories")).json()["repositories"]
        globex_sets = (await globex.get("/v1/replica/repository-sets")).json()["repository_sets"]
    assert [r["name"] for r in globex_repos] == ["globex/api", "globex/web", "globex/infra"]
    assert {r["id"] for r in acme_repos}.isdisjoint({r["id"] for r in globex_repos})
    assert globex_sets[0]["repositories"][0]["id"] == globex_repos[0]["id"]


async def test_personal_key_sees_the_organization_repositories(sandbox: RunningSandbox) -> None:
    async with api(sandbox, sandbox.org_key) as org, api(sandbox, sandbox.personal_key) as personal:
        assert (await org.get("/v1/replica/repositories")).json() == (
            await personal.get("/v1/replica/repositories")
        ).json()


async def test_requires_a_key(sandbox: RunningSandbox) -> None:
    async with api(sandbox, "not-a-key") as client:
        assert_error(await client.get("/v1/replica/repositories"), 401)
        assert_error(await client.get("/v1/replica/repository-sets"), 401)


async def test_documented_seed_ids(sandbox: RunningSandbox) -> None:
    """docs/sandbox-config.md lists these ids for the default seed: keep them true."""
    async with api(sandbox, sandbox.org_key) as client:
        repos = (await client.get("/v1/replica/repositories")).json()["repositories"]
        envs = (await client.get("/v1/environments")).json()["environments"]
    assert repos[0]["id"] == "96224d5e-24f7-58a4-9d9e-406d89503530"
    assert {e["name"]: e["id"] for e in envs} == {
        "Global": "e75976ef-34cf-557d-9c64-38596877d1fc",
        "api": "8bcaa93d-dff9-5342-a08b-009e3700ad42",
        "web": "216b686c-0a30-5763-92fa-b8fbf19b5425",
        "platform": "dfdc10bd-330b-5ea2-9748-ce830c0fb710",
    }
