"""OrgConfig used directly: seed data, the contract the workspace core relies on, and business rules."""

from __future__ import annotations

import pytest

from replicas_mcp.sandbox.clock import Clock
from replicas_mcp.sandbox.environments import shapes
from replicas_mcp.sandbox.environments.records import SecretValue
from replicas_mcp.sandbox.environments.seed import seed_id
from replicas_mcp.sandbox.environments.store import OrgConfig
from replicas_mcp.sandbox.errors import ApiError
from replicas_mcp.sandbox.ids import IdFactory
from replicas_mcp.sandbox.tenancy import Caller

ORG = "org-1"
ORG_KEY = Caller(org_id=ORG, key_kind="org", user_id=None)
ALICE = Caller(org_id=ORG, key_kind="personal", user_id="alice")
BOB = Caller(org_id=ORG, key_kind="personal", user_id="bob")


@pytest.fixture
def config() -> OrgConfig:
    return OrgConfig(org_id=ORG, org_name="Acme Corp", ids=IdFactory(0), clock=Clock(0.001))


def test_seed_has_documented_names_and_stable_ids(config: OrgConfig) -> None:
    assert [repo.name for repo in config.repositories()] == [
        "acme-corp/api",
        "acme-corp/web",
        "acme-corp/infra",
    ]
    assert [rs.name for rs in config.repository_sets()] == ["platform"]
    names = [env.name for env in config.list_environments(ORG_KEY, "org")]
    assert names == ["Global", "api", "web", "platform"]
    assert config.environment("global").id == seed_id(ORG, "environment/global")
    again = OrgConfig(org_id=ORG, org_name="Acme Corp", ids=IdFactory(99), clock=Clock(0.001))
    assert [e.id for e in again.list_environments(ORG_KEY, "all")] == [
        e.id for e in config.list_environments(ORG_KEY, "all")
    ]
    other = OrgConfig(org_id="org-2", org_name="Acme Corp", ids=IdFactory(0), clock=Clock(0.001))
    assert other.environment("global").id != config.environment("global").id


def test_contract_lookups(config: OrgConfig) -> None:
    api = config.environment(seed_id(ORG, "environment/api"))
    assert [repo.name for repo in config.repositories_for(api.id)] == ["acme-corp/api"]
    platform = config.environment(seed_id(ORG, "environment/platform"))
    assert [repo.default_branch for repo in config.repositories_for(platform.id)] == ["main", "main"]
    assert config.repositories_for("global") == []
    assert config.start_hook_script(api.id) == "#!/usr/bin/env bash\nnpm run dev &\n"
    assert config.warm_hook_script(api.id) is not None
    assert config.warm_hook_script("global") is None
    with pytest.raises(ApiError) as info:
        config.environment("no-such-env")
    assert info.value.status == 404


def test_environment_summary_lists_keys_never_values(config: OrgConfig) -> None:
    summary = config.environment_summary(seed_id(ORG, "environment/api"))
    assert summary["env_vars_set"] == ["DATABASE_URL", "TZ"]
    assert "postgres://" not in repr(summary)
    assert summary["files_uploaded"] == ["~/.npmrc"]
    assert summary["skills_installed"] == ["postgres"]
    assert summary["hooks"]["repositories"] == [
        {"repository_name": "acme-corp/api", "warm_hook": "npm ci", "start_hook": "npm run dev &"}
    ]
    assert summary["hooks"]["global_warm_hook"] == {"status": "not_configured", "details": None}


def test_environment_for_repositories_picks_or_creates(config: OrgConfig) -> None:
    api_repo = seed_id(ORG, "repository/api")
    infra_repo = seed_id(ORG, "repository/infra")
    assert config.environment_for_repositories([api_repo], None).name == "api"
    platform = config.environment_for_repositories(None, seed_id(ORG, "repository-set/platform"))
    assert platform.name == "platform"
    created = config.environment_for_repositories([infra_repo], None)
    assert (created.name, created.repository_id) == ("infra", infra_repo)
    assert config.environment_for_repositories([infra_repo], None).id == created.id
    for repository_ids, set_id, status in (
        (["nope"], None, 404),
        (None, "nope", 404),
        ([api_repo], "x", 400),
        (None, None, 400),
    ):
        with pytest.raises(ApiError) as info:
            config.environment_for_repositories(repository_ids, set_id)
        assert info.value.status == status


def test_secret_values_never_show_in_reprs(config: OrgConfig) -> None:
    env = config.environment("global")
    var = config.add_variable(
        ORG_KEY, env, key="API_TOKEN", value="s3cr3t-value", personal_override_allowed=None
    )
    assert "s3cr3t" not in repr(var)
    assert "s3cr3t" not in repr(env)
    assert var.value.reveal() == "s3cr3t-value"
    assert str(SecretValue("x")) == "SecretValue('***')"


def test_personal_environments_belong_to_their_owner(config: OrgConfig) -> None:
    mine = config.create_environment(ALICE, name="sandbox", scope="user")
    assert mine.user_id == "alice"
    assert config.visible_environment(mine.id, ALICE) is mine
    for stranger in (BOB, ORG_KEY):
        with pytest.raises(ApiError) as info:
            config.visible_environment(mine.id, stranger)
        assert info.value.status == 404
    assert [e.name for e in config.list_environments(ALICE, "user")] == ["sandbox"]
    assert config.list_environments(BOB, "user") == []
    with pytest.raises(ApiError) as info:
        config.create_environment(ORG_KEY, name="x", scope="user")
    assert info.value.status == 400


def test_source_backed_personal_environment_inherits_binding(config: OrgConfig) -> None:
    api = config.environment(seed_id(ORG, "environment/api"))
    mine = config.create_environment(ALICE, name="my-api", scope="user", source_environment_id=api.id)
    rendered = shapes.environment_json(config, mine)
    assert rendered["repository_id"] == api.repository_id
    assert rendered["system_prompt"] == api.system_prompt
    assert rendered["source_environment_id"] == api.id
    with pytest.raises(ApiError) as info:
        config.update_environment(ALICE, mine.id, system_prompt="mine")
    assert info.value.status == 400
    config.update_environment(ALICE, mine.id, personal_preferences="Use tabs.")
    # DATABASE_URL is inherited without personal_override_allowed: overriding it is a conflict.
    with pytest.raises(ApiError) as info:
        config.add_variable(ALICE, mine, key="DATABASE_URL", value="x", personal_override_allowed=None)
    assert info.value.status == 409
    # The source cannot go while a personal environment inherits from it.
    with pytest.raises(ApiError) as info:
        config.delete_environment(ORG_KEY, api.id)
    assert info.value.status == 409


def test_team_environment_from_source_copies_config(config: OrgConfig) -> None:
    api = config.environment(seed_id(ORG, "environment/api"))
    copy = config.create_environment(ORG_KEY, name="api-staging", source_environment_id=api.id)
    assert copy.repository_id == api.repository_id
    assert [v.key for v in copy.variables.values()] == ["DATABASE_URL"]
    assert {v.id for v in copy.variables.values()}.isdisjoint(api.variables)
    copied_hook, source_hook = copy.active_warm_hook, api.active_warm_hook
    assert copied_hook is not None
    assert source_hook is not None
    assert copied_hook.content == source_hook.content
    assert copy.source_environment_id is None


def test_warm_pool_follows_the_warm_hook(config: OrgConfig) -> None:
    api = config.environment(seed_id(ORG, "environment/api"))
    pool = shapes.warm_pool_json(config, api)
    assert pool is not None
    assert pool["ready_count"] == 2
    assert pool["generation"] == 1
    config.save_warm_hook(api, "exit 7\n")
    pool = shapes.warm_pool_json(config, api)
    assert pool is not None
    assert pool["generation"] == 2
    config.set_warm_pool(api, enabled=False)
    pool = shapes.warm_pool_json(config, api)
    assert pool is not None
    assert (pool["enabled"], pool["ready_count"], pool["warming_count"]) == (False, 0, 0)
    web = config.environment(seed_id(ORG, "environment/web"))
    assert shapes.warm_pool_json(config, web) is None


async def test_failed_warm_up_is_reported(config: OrgConfig) -> None:
    api = config.environment(seed_id(ORG, "environment/api"))
    config.save_warm_hook(api, "set -e\nfalse\n")
    assert api.warm_pool is not None
    api.warm_pool.warming_since -= api.warm_pool.warm_seconds  # let the simulated round finish
    pool = shapes.warm_pool_json(config, api)
    assert pool is not None
    assert pool["ready_count"] == 0
    assert pool["error_count"] == 1
    assert pool["last_failure_reason"] == "Warm hook exited with code 1"
    assert pool["last_failure_at"] is not None
    assert pool["next_retry_at"] is not None


def test_delete_is_blocked_by_registered_users(config: OrgConfig) -> None:
    web = config.environment(seed_id(ORG, "environment/web"))
    config.register_environment_users(lambda env_id: ["nightly"] if env_id == web.id else [])
    with pytest.raises(ApiError) as info:
        config.delete_environment(ORG_KEY, web.id)
    assert info.value.status == 409
    assert "nightly" in (info.value.details or "")
    platform = config.environment(seed_id(ORG, "environment/platform"))
    config.delete_environment(ORG_KEY, platform.id)
    with pytest.raises(ApiError):
        config.environment(platform.id)
