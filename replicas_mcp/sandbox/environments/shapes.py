"""Wire shapes the configuration store's records do not carry themselves: the spec's `Environment`,
`ReplicaEnvironment`, `RepositorySet`, `RepoSkill` and `WarmPoolConfigWithStats` objects."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from replicas_mcp.sandbox.coding_agents import PROVIDERS
from replicas_mcp.sandbox.environments import catalog
from replicas_mcp.sandbox.environments.base import ConfigBase
from replicas_mcp.sandbox.environments.pools import pool_counts
from replicas_mcp.sandbox.environments.records import EnvironmentRecord, RegistryRecord, RepositorySetRecord

ENGINE_VERSION = "sandbox-2.0.0"


def repository_set_json(config: ConfigBase, repository_set: RepositorySetRecord) -> dict[str, Any]:
    """The spec's `RepositorySet`."""
    return {
        "id": repository_set.id,
        "name": repository_set.name,
        "description": repository_set.description,
        "repositories": [config.repository(rid).to_json() for rid in repository_set.repository_ids],
    }


def environment_summary(config: ConfigBase, environment_id: str) -> dict[str, Any]:
    """The spec's `ReplicaEnvironment` (for `include=environment`): variable keys only, never values."""
    env = config.environment(environment_id)
    layers = [config.global_environment] if not env.is_global else []
    source = config.find(env.source_environment_id) if env.source_environment_id is not None else None
    if source is not None:
        layers.append(source)
    layers.append(env)
    global_hook = config.global_environment.active_warm_hook
    return {
        "engine_version": ENGINE_VERSION,
        "files_uploaded": _unique(file.path for layer in layers for file in layer.files.values()),
        "env_vars_set": sorted({var.key for layer in layers for var in layer.variables.values()}),
        "skills_installed": _unique(skill.slug for layer in layers for skill in layer.skills.values()),
        "integrations": {
            "github": True,
            "gitlab": False,
            "linear": False,
            "slack": False,
            "google": False,
        },
        "coding_agents": {agent: {"available": True, "auth_method": "api_key"} for agent in PROVIDERS},
        "hooks": {
            "global_warm_hook": {
                "status": "active" if global_hook else "not_configured",
                "details": f"version {global_hook.version}" if global_hook else None,
            },
            "repositories": [
                {
                    "repository_name": repo.name,
                    "warm_hook": repo.warm_hook or "",
                    "start_hook": repo.start_hook or "",
                }
                for repo in config.repositories_for(env.id)
            ],
        },
        "last_updated_at": max(layer.updated_at for layer in layers),
    }


def environment_json(config: ConfigBase, env: EnvironmentRecord) -> dict[str, Any]:
    """The spec's `Environment`, with counts of what is attached."""
    binding = config.binding_of(env)
    return {
        "id": env.id,
        "organization_id": config.org_id,
        "user_id": env.user_id,
        "name": env.name,
        "description": env.description,
        "is_global": env.is_global,
        "repository_id": binding.repository_id,
        "repository_set_id": binding.repository_set_id,
        "system_prompt": binding.system_prompt,
        "mobile_testing_enabled": env.mobile_testing_enabled,
        "personal_preferences": env.personal_preferences,
        "source_environment_id": env.source_environment_id,
        "variable_count": len(env.variables),
        "file_count": len(env.files),
        "skill_count": len(env.skills),
        "mcp_count": len(env.mcps),
        "created_at": env.created_at,
        "updated_at": env.updated_at,
    }


def registry_skills_json(config: ConfigBase, registry: RegistryRecord) -> list[dict[str, Any]]:
    """The spec's `RepoSkill` list discovered in a registry repository."""
    return [
        {
            "id": f"{registry.id}:skills/{skill.directory}",
            "repository_id": registry.id,
            "repository_full_name": registry.repository_full_name,
            "branch": registry.default_branch,
            "path": f"skills/{skill.directory}",
            "name": skill.name,
            "description": skill.description,
            "framework": "agents",
            "kind": "skill",
            "html_url": f"{registry.url}/tree/{registry.default_branch}/skills/{skill.directory}",
        }
        for skill in catalog.registry_skills(registry.repository_full_name)
    ]


def repo_skills_json(config: ConfigBase, env: EnvironmentRecord) -> list[dict[str, Any]]:
    """Skill/agent/command/prompt files committed to the environment's bound repositories."""
    return [
        {
            "id": f"{repo.id}:{file.path}",
            "repository_id": repo.id,
            "repository_full_name": repo.full_name,
            "branch": repo.default_branch,
            "path": file.path,
            "name": file.name,
            "description": file.description,
            "framework": file.framework,
            "kind": file.kind,
            "html_url": f"{repo.url}/blob/{repo.default_branch}/{file.path}",
        }
        for repo in config.repositories_for(env.id)
        for file in repo.skill_files
    ]


def warm_pool_json(config: ConfigBase, env: EnvironmentRecord) -> dict[str, Any] | None:
    """The spec's `WarmPoolConfigWithStats`, or None when no pool was ever configured."""
    pool = env.warm_pool
    if pool is None:
        return None
    ready, stale, warming = pool_counts(pool)
    failed = pool.failure_reason is not None and pool.enabled and warming == 0
    return {
        "id": pool.id,
        "organization_id": config.org_id,
        "environment_id": env.id,
        "enabled": pool.enabled,
        "target_size": pool.target_size,
        "generation": pool.generation,
        "error_count": 1 if failed else 0,
        "next_retry_at": pool.retry_at if failed else None,
        "last_error_at": pool.failure_at if failed else None,
        "last_error_message": pool.failure_reason if failed else None,
        "has_base_snapshot": False,
        "updated_at": pool.updated_at,
        "ready_count": ready,
        "stale_count": stale,
        "warming_count": warming,
        "snapshotting_count": 0,
        "last_failure_at": pool.failure_at if failed else None,
        "last_failure_reason": pool.failure_reason if failed else None,
    }


def repository_hooks_json(config: ConfigBase, env: EnvironmentRecord, kind: str) -> list[dict[str, Any]]:
    """Per-repository hooks from each bound repository's replicas.json (`kind`: warm_hook|start_hook)."""
    return [
        {
            "repository_id": repo.id,
            "repository_name": repo.name,
            "config_file": "replicas.json" if (repo.warm_hook or repo.start_hook) else None,
            kind: repo.warm_hook if kind == "warm_hook" else repo.start_hook,
        }
        for repo in config.repositories_for(env.id)
    ]


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))
