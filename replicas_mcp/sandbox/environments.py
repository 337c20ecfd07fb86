"""One organization's configuration: repositories, repository sets and environments with everything
attached to them (variables, files, skills, skill registries, MCPs, warm and start hooks, warm pool).

`OrgConfig` holds the state and the business rules; the HTTP routes live in `config_routes_*` modules and
are gathered by `config_routes()`. Rules worth knowing (see docs/sandbox-config.md for the full list):

- `global` is accepted wherever an environment id is. The Global environment cannot be PATCHed (400,
  as the spec says) nor deleted (409). DELETE is also a 409 while an automation uses the environment or
  a personal environment inherits from it.
- Personal environments (`scope: "user"`, personal keys only) are visible to their owner alone; anyone
  else gets a 404. A personal environment created from a team source inherits the source's repository
  binding and system prompt, which it then cannot change.
- Where the spec lists no 404 for a nested route (e.g. listing variables), an unknown environment is a
  400 "Environment not found"; where it does, it is a 404.
- Variable values are kept as `SecretValue` (never shown in reprs or logs) and returned in plaintext on
  read, as the spec documents.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import timedelta
from enum import Enum
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.routing import BaseRoute

from replicas_mcp.sandbox import catalog, hookrunner
from replicas_mcp.sandbox.clock import Clock
from replicas_mcp.sandbox.coding_agents import PROVIDERS
from replicas_mcp.sandbox.config_records import (
    EnvironmentRecord,
    FileRecord,
    HookRecord,
    McpRecord,
    RegistryRecord,
    RepositoryRecord,
    RepositorySetRecord,
    SecretValue,
    SkillRecord,
    VariableRecord,
    WarmPoolRecord,
)
from replicas_mcp.sandbox.config_seed import (
    API_FILE,
    API_MCP,
    API_SKILL,
    API_START_HOOK,
    API_VARIABLES,
    API_WARM_HOOK,
    GLOBAL_VARIABLES,
    sample_repositories,
    sample_repository_sets,
    seed_id,
)
from replicas_mcp.sandbox.errors import ApiError, bad_request, conflict
from replicas_mcp.sandbox.ids import IdFactory
from replicas_mcp.sandbox.tenancy import Caller

__all__ = [
    "UNSET",
    "EnvironmentRecord",
    "OrgConfig",
    "RepositoryRecord",
    "RepositorySetRecord",
    "Unset",
    "config_routes",
    "member",
]

GLOBAL_ALIAS = "global"
ENGINE_VERSION = "sandbox-2.0.0"
WARM_POOL_TARGET_SIZE = 2
WARM_UP_SECONDS = 5.0  # simulated provisioning time of one pool round, before the hooks run
WARM_POOL_RETRY_SECONDS = 60


class Unset(Enum):
    """Marks a PATCH field the request did not mention (distinct from an explicit null)."""

    UNSET = "unset"


UNSET = Unset.UNSET

EnvironmentUsers = Callable[[str], list[str]]
M = TypeVar("M")
R = TypeVar("R", VariableRecord, FileRecord, SkillRecord, McpRecord, RegistryRecord)


def environment_not_found(environment_id: str, status: int = 404) -> ApiError:
    return ApiError(
        status,
        "Environment not found",
        f"No environment with id {environment_id!r} in this organization. List environments with "
        "GET /v1/environments, or use 'global' for the Global environment.",
    )


class OrgConfig:
    """The configuration state of one organization (thread-unsafe; used from one event loop)."""

    def __init__(
        self,
        *,
        org_id: str,
        org_name: str,
        ids: IdFactory,
        clock: Clock,
        hook_timeout_seconds: float = hookrunner.DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        self.org_id = org_id
        self.org_name = org_name
        self.hook_timeout_seconds = hook_timeout_seconds
        self.clock = clock
        self._ids = ids
        self._repositories = {repo.id: repo for repo in sample_repositories(org_id, org_name)}
        self._repository_sets = {rs.id: rs for rs in sample_repository_sets(org_id)}
        self._environments: dict[str, EnvironmentRecord] = {}
        self._environment_users: list[EnvironmentUsers] = []
        self._seed()

    # ----------------------------------------------------------------------------------------- seed
    def _seed(self) -> None:
        now = self.clock.iso()
        org = self.org_id

        def environment(label: str, name: str, **fields: Any) -> EnvironmentRecord:
            record = EnvironmentRecord(
                id=seed_id(org, f"environment/{label}"),
                organization_id=org,
                name=name,
                created_at=now,
                updated_at=now,
                **fields,
            )
            self._environments[record.id] = record
            return record

        global_env = environment("global", "Global", is_global=True, description="Applies to every workspace")
        for key, value in GLOBAL_VARIABLES.items():
            self._seed_variable(global_env, key, value, now)
        api = environment(
            "api",
            "api",
            description="The API service",
            repository_id=seed_id(org, "repository/api"),
            system_prompt="Run `npm test` before you open a pull request.",
        )
        for key, value in API_VARIABLES.items():
            self._seed_variable(api, key, value, now)
        file_name, file_path, file_content = API_FILE
        file_id = seed_id(org, f"environment/api/file/{file_name}")
        api.files[file_id] = FileRecord(file_id, api.id, file_name, file_path, file_content, now, now)
        skill_name, skill_slug, skill_source = API_SKILL
        skill_id = seed_id(org, f"environment/api/skill/{skill_slug}")
        api.skills[skill_id] = SkillRecord(skill_id, api.id, skill_name, skill_slug, skill_source, now, now)
        mcp_name, transport, mcp_config = API_MCP
        mcp_id = seed_id(org, f"environment/api/mcp/{mcp_name}")
        api.mcps[mcp_id] = McpRecord(mcp_id, api.id, mcp_name, transport, dict(mcp_config), now, now)
        warm_id = seed_id(org, "environment/api/warm-hook/1")
        api.warm_hooks.append(HookRecord(warm_id, api.id, 1, API_WARM_HOOK, True, now))
        start_id = seed_id(org, "environment/api/start-hook/1")
        api.start_hooks.append(HookRecord(start_id, api.id, 1, API_START_HOOK, True, now))
        self._enable_pool(api, pool_id=seed_id(org, "environment/api/warm-pool"), settled=True)
        environment("web", "web", description="The web app", repository_id=seed_id(org, "repository/web"))
        environment(
            "platform",
            "platform",
            description="API and web app together",
            repository_set_id=seed_id(org, "repository-set/platform"),
        )

    def _seed_variable(self, env: EnvironmentRecord, key: str, value: str, now: str) -> None:
        var_id = seed_id(self.org_id, f"environment/{env.name.lower()}/variable/{key}")
        env.variables[var_id] = VariableRecord(var_id, env.id, key, SecretValue(value), False, now, now)

    # ------------------------------------------------------------------------------- repositories
    def repositories(self) -> list[RepositoryRecord]:
        return list(self._repositories.values())

    def repository_sets(self) -> list[RepositorySetRecord]:
        return list(self._repository_sets.values())

    def repository_set_json(self, repository_set: RepositorySetRecord) -> dict[str, Any]:
        """The spec's `RepositorySet`."""
        return {
            "id": repository_set.id,
            "name": repository_set.name,
            "description": repository_set.description,
            "repositories": [self._repositories[rid].to_json() for rid in repository_set.repository_ids],
        }

    def _known_repository(self, repository_id: str, *, status: int = 400) -> RepositoryRecord:
        repo = self._repositories.get(repository_id)
        if repo is None:
            raise ApiError(
                status,
                "Repository not found",
                f"No repository with id {repository_id!r} in this organization; "
                "list them with GET /v1/replica/repositories.",
            )
        return repo

    def _known_repository_set(self, repository_set_id: str, *, status: int = 400) -> RepositorySetRecord:
        repository_set = self._repository_sets.get(repository_set_id)
        if repository_set is None:
            raise ApiError(
                status,
                "Repository set not found",
                f"No repository set with id {repository_set_id!r} in this organization; "
                "list them with GET /v1/replica/repository-sets.",
            )
        return repository_set

    # ---------------------------------------------------------------- lookups (contract with core)
    @property
    def global_environment(self) -> EnvironmentRecord:
        return next(env for env in self._environments.values() if env.is_global)

    def environment(self, environment_id: str) -> EnvironmentRecord:
        """Any environment of the organization by id or `global`; ApiError 404 when unknown."""
        if environment_id == GLOBAL_ALIAS:
            return self.global_environment
        env = self._environments.get(environment_id)
        if env is None:
            raise environment_not_found(environment_id)
        return env

    def visible_environment(
        self, environment_id: str, caller: Caller, *, missing_status: int = 404
    ) -> EnvironmentRecord:
        """The environment as `caller` may see it: another user's personal environment does not exist."""
        env = (
            self._environments.get(environment_id)
            if environment_id != GLOBAL_ALIAS
            else self.global_environment
        )
        if env is None or (env.user_id is not None and env.user_id != caller.user_id):
            raise environment_not_found(environment_id, missing_status)
        return env

    def _binding_of(self, env: EnvironmentRecord) -> EnvironmentRecord:
        """Whose repository binding and system prompt apply: a source-backed personal env's source."""
        if env.source_environment_id is not None and env.user_id is not None:
            source = self._environments.get(env.source_environment_id)
            if source is not None:
                return source
        return env

    def repositories_for(self, environment_id: str) -> list[RepositoryRecord]:
        binding = self._binding_of(self.environment(environment_id))
        if binding.repository_id is not None:
            return [self._repositories[binding.repository_id]]
        if binding.repository_set_id is not None:
            repository_set = self._repository_sets[binding.repository_set_id]
            return [self._repositories[rid] for rid in repository_set.repository_ids]
        return []

    def environment_for_repositories(
        self, repository_ids: list[str] | None, repository_set_id: str | None
    ) -> EnvironmentRecord:
        """The team environment the deprecated `repository_ids` / `repository_set_id` fields resolve to.

        The first environment bound to the set (or to one of the repositories, in the order given) wins;
        when none is bound yet, one is created for it, named after the set or repository.
        """
        if repository_ids and repository_set_id:
            raise bad_request(
                "Conflicting fields",
                "Pass environment_id (preferred), or repository_ids, or repository_set_id.",
            )
        team = [env for env in self._environments.values() if env.user_id is None and not env.is_global]
        if repository_set_id:
            repository_set = self._known_repository_set(repository_set_id, status=404)
            for env in team:
                if env.repository_set_id == repository_set.id:
                    return env
            return self._implicit_environment(repository_set.name, repository_set_id=repository_set.id)
        if repository_ids:
            repos = [self._known_repository(rid, status=404) for rid in repository_ids]
            for repo in repos:
                for env in team:
                    if env.repository_id == repo.id:
                        return env
            return self._implicit_environment(repos[0].name.rsplit("/", 1)[-1], repository_id=repos[0].id)
        raise bad_request(
            "Missing required field 'environment_id'", "Pass environment_id (see GET /v1/environments)."
        )

    def _implicit_environment(self, base_name: str, **binding: str) -> EnvironmentRecord:
        taken = {env.name for env in self._environments.values() if env.user_id is None}
        name, counter = base_name, 2
        while name in taken:
            name, counter = f"{base_name}-{counter}", counter + 1
        return self._new_environment(name=name, user_id=None, **binding)

    def start_hook_script(self, environment_id: str) -> str | None:
        """The environment's own active start hook (the Global one is read with `"global"`)."""
        hook = self.environment(environment_id).active_start_hook
        return hook.content if hook else None

    def warm_hook_script(self, environment_id: str) -> str | None:
        hook = self.environment(environment_id).active_warm_hook
        return hook.content if hook else None

    def environment_summary(self, environment_id: str) -> dict[str, Any]:
        """The spec's `ReplicaEnvironment` (for `include=environment`): variable keys only, never values."""
        env = self.environment(environment_id)
        layers = [self.global_environment] if not env.is_global else []
        if env.source_environment_id is not None and env.source_environment_id in self._environments:
            layers.append(self._environments[env.source_environment_id])
        layers.append(env)
        global_hook = self.global_environment.active_warm_hook
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
                    for repo in self.repositories_for(env.id)
                ],
            },
            "last_updated_at": max(layer.updated_at for layer in layers),
        }

    def environment_json(self, env: EnvironmentRecord) -> dict[str, Any]:
        """The spec's `Environment`, with counts of what is attached."""
        binding = self._binding_of(env)
        return {
            "id": env.id,
            "organization_id": self.org_id,
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

    # --------------------------------------------------------------------------------- environments
    def register_environment_users(self, users: EnvironmentUsers) -> None:
        """Register a lookup `environment_id -> names of things using it`; DELETE is a 409 while non-empty."""
        self._environment_users.append(users)

    def list_environments(self, caller: Caller, scope: str) -> list[EnvironmentRecord]:
        team = [env for env in self._environments.values() if env.user_id is None]
        mine = [
            env
            for env in self._environments.values()
            if env.user_id is not None and env.user_id == caller.user_id
        ]
        if scope == "org":
            return team
        if scope == "user":
            return mine
        return team + mine

    def create_environment(
        self,
        caller: Caller,
        *,
        name: str,
        scope: str = "org",
        description: str | None = None,
        source_environment_id: str | None = None,
        repository_id: str | None = None,
        repository_set_id: str | None = None,
        system_prompt: str | None = None,
        mobile_testing_enabled: bool = False,
    ) -> EnvironmentRecord:
        if repository_id and repository_set_id:
            raise bad_request(
                "repository_id and repository_set_id are mutually exclusive",
                "Bind the environment to one repository or to one repository set, not both.",
            )
        user_id: str | None = None
        if scope == "user":
            if caller.user_id is None:
                raise bad_request(
                    "Personal environments need a personal API key",
                    "This is an organization key; create a team environment (scope 'org') "
                    "or use a personal key.",
                )
            user_id = caller.user_id
            if mobile_testing_enabled:
                raise bad_request("mobile_testing_enabled is only configurable on team environments")
        if repository_id:
            self._known_repository(repository_id)
        if repository_set_id:
            self._known_repository_set(repository_set_id)
        self._check_name_free(name, user_id)
        source = self._source_for(source_environment_id) if source_environment_id else None
        if (
            source is not None
            and user_id is not None
            and (repository_id or repository_set_id or system_prompt)
        ):
            raise bad_request(
                "A personal environment inherits its binding from its source",
                "Omit repository_id, repository_set_id and system_prompt when source_environment_id is set "
                "with scope 'user'; set personal_preferences later to add instructions.",
            )
        if source is not None and user_id is None and not (repository_id or repository_set_id):
            repository_id, repository_set_id = source.repository_id, source.repository_set_id
        if source is not None and user_id is None and system_prompt is None:
            system_prompt = source.system_prompt
        env = self._new_environment(
            name=name,
            user_id=user_id,
            description=description,
            repository_id=repository_id,
            repository_set_id=repository_set_id,
            system_prompt=system_prompt,
            mobile_testing_enabled=mobile_testing_enabled,
            source_environment_id=source.id if source is not None and user_id is not None else None,
        )
        if source is not None and user_id is None:
            self._copy_config(source, env)
        return env

    def _new_environment(self, *, name: str, user_id: str | None, **fields: Any) -> EnvironmentRecord:
        now = self.clock.iso()
        env = EnvironmentRecord(
            id=self._ids.uuid(),
            organization_id=self.org_id,
            name=name,
            created_at=now,
            updated_at=now,
            user_id=user_id,
            **fields,
        )
        self._environments[env.id] = env
        # Environments created through the API start with their warm pool enabled (API guide).
        self._enable_pool(env, pool_id=self._ids.uuid(), settled=False)
        return env

    def _source_for(self, source_environment_id: str) -> EnvironmentRecord:
        source = self._environments.get(source_environment_id)  # 'global' is no team environment either
        if source is None or source.user_id is not None or source.is_global:
            raise bad_request(
                "Invalid field 'source_environment_id'",
                f"{source_environment_id!r} is not a team environment of this organization.",
            )
        return source

    def _copy_config(self, source: EnvironmentRecord, env: EnvironmentRecord) -> None:
        now = self.clock.iso()
        for var in source.variables.values():
            self._copy_into(env.variables, var, env.id, now)
        for file in source.files.values():
            self._copy_into(env.files, file, env.id, now)
        for skill in source.skills.values():
            self._copy_into(env.skills, skill, env.id, now)
        for mcp in source.mcps.values():
            self._copy_into(env.mcps, mcp, env.id, now, config=dict(mcp.config))
        for registry in source.registries.values():
            self._copy_into(env.registries, registry, env.id, now)
        if source.active_warm_hook is not None:
            self.save_warm_hook(env, source.active_warm_hook.content)
        if source.active_start_hook is not None:
            self.save_start_hook(env, source.active_start_hook.content)

    def _copy_into(
        self, items: dict[str, R], original: R, environment_id: str, now: str, **changes: Any
    ) -> None:
        """A copy of `original` (a fresh id, created now) attached to another environment's `items`."""
        copy = replace(
            original,
            id=self._ids.uuid(),
            environment_id=environment_id,
            created_at=now,
            updated_at=now,
            **changes,
        )
        items[copy.id] = copy

    def _check_name_free(self, name: str, user_id: str | None, *, except_id: str | None = None) -> None:
        for env in self._environments.values():
            if env.user_id == user_id and env.name == name and env.id != except_id:
                where = "your personal environments" if user_id else "this organization's team environments"
                raise conflict(
                    "An environment with this name already exists", f"{name!r} is taken in {where}."
                )

    def update_environment(
        self,
        caller: Caller,
        environment_id: str,
        *,
        name: str | Unset = UNSET,
        description: str | Unset | None = UNSET,
        repository_id: str | Unset | None = UNSET,
        repository_set_id: str | Unset | None = UNSET,
        system_prompt: str | Unset | None = UNSET,
        mobile_testing_enabled: bool | Unset = UNSET,
        personal_preferences: str | Unset | None = UNSET,
    ) -> EnvironmentRecord:
        env = self.visible_environment(environment_id, caller)
        if env.is_global:
            raise bad_request(
                "The Global environment's metadata cannot be edited",
                "Change what it carries through its nested endpoints instead: /v1/environments/global/"
                "variables, /files, /skills, /mcps, /warm-hooks and /start-hooks.",
            )
        if isinstance(repository_id, str) and isinstance(repository_set_id, str):
            raise bad_request(
                "repository_id and repository_set_id are mutually exclusive",
                "Bind the environment to one repository or to one repository set, not both.",
            )
        personal = env.user_id is not None
        if (
            personal
            and env.source_environment_id is not None
            and not all(value is UNSET for value in (repository_id, repository_set_id, system_prompt))
        ):
            raise bad_request(
                "This personal environment inherits its binding from its source",
                "repository_id, repository_set_id and system_prompt come from the source environment; "
                "set personal_preferences to add your own instructions.",
            )
        if personal_preferences is not UNSET and not personal:
            raise bad_request("personal_preferences is only settable on personal environments")
        if mobile_testing_enabled is not UNSET and personal:
            raise bad_request("mobile_testing_enabled is only configurable on team environments")
        if isinstance(repository_id, str):
            self._known_repository(repository_id)
        if isinstance(repository_set_id, str):
            self._known_repository_set(repository_set_id)
        if isinstance(name, str):
            self._check_name_free(name, env.user_id, except_id=env.id)
            env.name = name
        if not isinstance(description, Unset):
            env.description = description
        if not isinstance(repository_id, Unset):
            env.repository_id = repository_id
            if repository_id is not None:
                env.repository_set_id = None
        if not isinstance(repository_set_id, Unset):
            env.repository_set_id = repository_set_id
            if repository_set_id is not None:
                env.repository_id = None
        if not isinstance(system_prompt, Unset):
            env.system_prompt = system_prompt
        if isinstance(mobile_testing_enabled, bool):
            env.mobile_testing_enabled = mobile_testing_enabled
        if not isinstance(personal_preferences, Unset):
            env.personal_preferences = personal_preferences
        self._touch(env)
        return env

    def delete_environment(self, caller: Caller, environment_id: str) -> None:
        env = self.visible_environment(environment_id, caller)
        if env.is_global:
            raise conflict(
                "The Global environment cannot be deleted", "Delete or change what it carries instead."
            )
        users = [name for lookup in self._environment_users for name in lookup(env.id)]
        if users:
            raise conflict(
                "Environment is used by automations",
                f"Automations still run in this environment: {', '.join(users)}. Move them to another "
                "environment (PATCH /v1/automations/{id} with environment_id) or delete them first.",
            )
        heirs = [other.name for other in self._environments.values() if other.source_environment_id == env.id]
        if heirs:
            raise conflict(
                "Personal environments inherit from this environment",
                f"Delete the personal environments that use it as their source first: {', '.join(heirs)}.",
            )
        del self._environments[env.id]

    def _detach(self, env: EnvironmentRecord, items: dict[str, Any], item_id: str, what: str) -> None:
        """Remove one of the environment's items (404 `{what} not found` when it has none with that id)."""
        member(items, item_id, what)
        del items[item_id]
        self._touch(env)

    def _touch(self, env: EnvironmentRecord) -> str:
        env.updated_at = self.clock.iso()
        return env.updated_at

    # ------------------------------------------------------------------------------------ variables
    def add_variable(
        self,
        caller: Caller,
        env: EnvironmentRecord,
        *,
        key: str,
        value: str,
        personal_override_allowed: bool | None,
    ) -> VariableRecord:
        self._check_override_policy(caller, env, personal_override_allowed)
        self._check_variable_key_free(env, key)
        now = self._touch(env)
        var = VariableRecord(
            self._ids.uuid(), env.id, key, SecretValue(value), bool(personal_override_allowed), now, now
        )
        env.variables[var.id] = var
        return var

    def update_variable(
        self,
        caller: Caller,
        env: EnvironmentRecord,
        variable_id: str,
        *,
        key: str | Unset = UNSET,
        value: str | Unset = UNSET,
        personal_override_allowed: bool | Unset = UNSET,
    ) -> VariableRecord:
        var = member(env.variables, variable_id, "Variable")
        if isinstance(personal_override_allowed, bool):
            self._check_override_policy(caller, env, personal_override_allowed)
        if isinstance(key, str) and key != var.key:
            self._check_variable_key_free(env, key)
            var.key = key
        if isinstance(value, str):
            var.value = SecretValue(value)
        if isinstance(personal_override_allowed, bool):
            var.personal_override_allowed = personal_override_allowed
        var.updated_at = self._touch(env)
        return var

    def delete_variable(self, env: EnvironmentRecord, variable_id: str) -> None:
        self._detach(env, env.variables, variable_id, "Variable")

    def _check_override_policy(self, caller: Caller, env: EnvironmentRecord, allowed: bool | None) -> None:
        if allowed is None:
            return
        if env.user_id is not None:
            raise bad_request(
                "personal_override_allowed applies to team and Global variables only",
                "Omit personal_override_allowed for variables of a personal environment.",
            )
        if caller.key_kind != "org":
            raise ApiError(
                403,
                "Admin access required to change personal override policy",
                "Use an organization API key (created by an admin) to set personal_override_allowed.",
            )

    def _check_variable_key_free(self, env: EnvironmentRecord, key: str) -> None:
        if any(var.key == key for var in env.variables.values()):
            raise conflict("Variable already exists", f"{key!r} is already set here; PATCH it instead.")
        source = self._environments.get(env.source_environment_id) if env.source_environment_id else None
        if source is not None:
            inherited = next((var for var in source.variables.values() if var.key == key), None)
            if inherited is not None and not inherited.personal_override_allowed:
                raise conflict(
                    "Inherited variable cannot be overridden",
                    f"{key!r} comes from the source environment {source.name!r}, which does not allow "
                    "personal overrides.",
                )

    # ---------------------------------------------------------------------------------------- files
    def add_file(self, env: EnvironmentRecord, *, name: str, path: str, content: str) -> FileRecord:
        self._check_path_free(env, path)
        now = self._touch(env)
        file = FileRecord(self._ids.uuid(), env.id, name, path, content, now, now)
        env.files[file.id] = file
        return file

    def update_file(
        self,
        env: EnvironmentRecord,
        file_id: str,
        *,
        name: str | Unset = UNSET,
        path: str | Unset = UNSET,
        content: str | Unset = UNSET,
    ) -> FileRecord:
        file = member(env.files, file_id, "File")
        if isinstance(path, str) and path != file.path:
            self._check_path_free(env, path)
            file.path = path
        if isinstance(name, str):
            file.name = name
        if isinstance(content, str):
            file.content = content
        file.updated_at = self._touch(env)
        return file

    def delete_file(self, env: EnvironmentRecord, file_id: str) -> None:
        self._detach(env, env.files, file_id, "File")

    @staticmethod
    def _check_path_free(env: EnvironmentRecord, path: str) -> None:
        # The spec documents no 409 for files, so a second file at one path is a 400.
        if any(file.path == path for file in env.files.values()):
            raise bad_request(
                "A file with this path already exists",
                f"{path!r} is taken; PATCH that file or pick another path.",
            )

    # --------------------------------------------------------------------------------------- skills
    def enable_skill(self, env: EnvironmentRecord, *, name: str, slug: str, source: str) -> SkillRecord:
        for skill in env.skills.values():
            if skill.slug == slug or skill.source == source:
                raise conflict("Skill already enabled", f"{skill.slug!r} is already enabled (id {skill.id}).")
        now = self._touch(env)
        skill = SkillRecord(self._ids.uuid(), env.id, name, slug, source, now, now)
        env.skills[skill.id] = skill
        return skill

    def disable_skill(self, env: EnvironmentRecord, skill_id: str) -> None:
        self._detach(env, env.skills, skill_id, "Skill")

    def add_registry(self, env: EnvironmentRecord, *, url: str, full_name: str) -> RegistryRecord:
        for registry in env.registries.values():
            if registry.repository_full_name.lower() == full_name.lower():
                raise conflict(
                    "Skill registry already added", f"{full_name} is already a registry (id {registry.id})."
                )
        now = self._touch(env)
        registry = RegistryRecord(
            self._ids.uuid(), env.id, full_name.rsplit("/", 1)[-1], url, full_name, "main", now, now
        )
        env.registries[registry.id] = registry
        return registry

    def remove_registry(self, env: EnvironmentRecord, registry_id: str) -> None:
        self._detach(env, env.registries, registry_id, "Skills registry")

    def registry_skills_json(self, registry: RegistryRecord) -> list[dict[str, Any]]:
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

    def repo_skills_json(self, env: EnvironmentRecord) -> list[dict[str, Any]]:
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
            for repo in self.repositories_for(env.id)
            for file in repo.skill_files
        ]

    # ----------------------------------------------------------------------------------------- MCPs
    def add_mcp(
        self, env: EnvironmentRecord, *, name: str, transport: str, config: dict[str, Any]
    ) -> McpRecord:
        self._check_mcp_name_free(env, name)
        now = self._touch(env)
        mcp = McpRecord(self._ids.uuid(), env.id, name, transport, config, now, now)
        env.mcps[mcp.id] = mcp
        return mcp

    def update_mcp(
        self,
        env: EnvironmentRecord,
        mcp_id: str,
        *,
        name: str | Unset = UNSET,
        transport: str | Unset = UNSET,
        config: dict[str, Any] | Unset = UNSET,
    ) -> McpRecord:
        mcp = member(env.mcps, mcp_id, "MCP")
        if isinstance(name, str) and name != mcp.name:
            self._check_mcp_name_free(env, name)
            mcp.name = name
        if isinstance(transport, str):
            mcp.transport = transport
        if isinstance(config, dict):
            mcp.config = config
        mcp.updated_at = self._touch(env)
        return mcp

    def delete_mcp(self, env: EnvironmentRecord, mcp_id: str) -> None:
        self._detach(env, env.mcps, mcp_id, "MCP")

    @staticmethod
    def _check_mcp_name_free(env: EnvironmentRecord, name: str) -> None:
        if any(mcp.name == name for mcp in env.mcps.values()):
            raise conflict("An MCP with this name already exists", f"{name!r} is taken in this environment.")

    # ---------------------------------------------------------------------------- hooks, warm pool
    def save_warm_hook(self, env: EnvironmentRecord, content: str) -> HookRecord:
        hook = self._new_hook_version(env, env.warm_hooks, content)
        # A new warm hook invalidates pools: the Global hook runs in every pool, so it invalidates all.
        affected = self._environments.values() if env.is_global else [env]
        for each in affected:
            if each.warm_pool is not None and each.warm_pool.enabled:
                self._invalidate_pool(each, each.warm_pool)
        return hook

    def save_start_hook(self, env: EnvironmentRecord, content: str) -> HookRecord | None:
        """Save and activate a start hook; empty content clears the active one (returns None)."""
        if not content.strip():
            for hook in env.start_hooks:
                hook.is_active = False
            self._touch(env)
            return None
        return self._new_hook_version(env, env.start_hooks, content)

    def _new_hook_version(
        self, env: EnvironmentRecord, versions: list[HookRecord], content: str
    ) -> HookRecord:
        for hook in versions:
            hook.is_active = False
        version = max((hook.version for hook in versions), default=0) + 1
        hook = HookRecord(self._ids.uuid(), env.id, version, content, True, self._touch(env))
        versions.append(hook)
        return hook

    def set_warm_pool(self, env: EnvironmentRecord, *, enabled: bool) -> WarmPoolRecord:
        pool = env.warm_pool
        if pool is None:
            pool = self._enable_pool(env, pool_id=self._ids.uuid(), settled=False)
            pool.enabled = enabled
            return pool
        if enabled and not pool.enabled:
            pool.enabled = True
            self._invalidate_pool(env, pool)
        elif not enabled:
            pool.enabled = False
            pool.ready_before = 0
        pool.updated_at = self.clock.iso()
        return pool

    def _enable_pool(self, env: EnvironmentRecord, *, pool_id: str, settled: bool) -> WarmPoolRecord:
        pool = WarmPoolRecord(
            id=pool_id,
            environment_id=env.id,
            enabled=True,
            target_size=WARM_POOL_TARGET_SIZE,
            generation=0,
            updated_at=self.clock.iso(),
            warming_since=time.monotonic(),
            warm_seconds=0.0,
        )
        env.warm_pool = pool
        self._invalidate_pool(env, pool)
        if settled:  # seeded pools start full
            pool.warming_since -= pool.warm_seconds
        return pool

    def _invalidate_pool(self, env: EnvironmentRecord, pool: WarmPoolRecord) -> None:
        """Start a new pool generation: simulate its warm-up with the Global and the environment's hooks."""
        ready, stale, _ = self._pool_counts(pool)
        pool.ready_before = ready + stale if pool.generation else 0
        pool.generation += 1
        scripts = [
            self.global_environment.active_warm_hook,
            env.active_warm_hook if not env.is_global else None,
        ]
        seconds = WARM_UP_SECONDS
        pool.failure_reason = pool.failure_at = pool.retry_at = None
        for hook in scripts:
            if hook is None:
                continue
            outcome = hookrunner.simulate(hook.content, timeout_seconds=self.hook_timeout_seconds)
            seconds += outcome.seconds
            if not outcome.succeeded:
                pool.failure_reason = (
                    f"Warm hook timed out after {self.hook_timeout_seconds:g}s"
                    if outcome.timed_out
                    else f"Warm hook exited with code {outcome.exit_code}"
                )
                break
        now = self.clock.now()
        pool.warming_since = time.monotonic()
        pool.warm_seconds = self.clock.scaled(seconds)
        pool.updated_at = self.clock.iso(now)
        if pool.failure_reason is not None:
            failed_at = now + timedelta(seconds=pool.warm_seconds)
            pool.failure_at = self.clock.iso(failed_at)
            pool.retry_at = self.clock.iso(failed_at + timedelta(seconds=WARM_POOL_RETRY_SECONDS))

    @staticmethod
    def _pool_counts(pool: WarmPoolRecord) -> tuple[int, int, int]:
        """(ready, stale, warming) right now."""
        if not pool.enabled:
            return 0, 0, 0
        if time.monotonic() - pool.warming_since < pool.warm_seconds:
            return 0, pool.ready_before, pool.target_size
        if pool.failure_reason is not None:
            return 0, pool.ready_before, 0
        return pool.target_size, 0, 0

    def warm_pool_json(self, env: EnvironmentRecord) -> dict[str, Any] | None:
        """The spec's `WarmPoolConfigWithStats`, or None when no pool was ever configured."""
        pool = env.warm_pool
        if pool is None:
            return None
        ready, stale, warming = self._pool_counts(pool)
        failed = pool.failure_reason is not None and pool.enabled and warming == 0
        return {
            "id": pool.id,
            "organization_id": self.org_id,
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

    def repository_hooks_json(self, env: EnvironmentRecord, kind: str) -> list[dict[str, Any]]:
        """Per-repository hooks from each bound repository's replicas.json (`kind`: warm_hook|start_hook)."""
        return [
            {
                "repository_id": repo.id,
                "repository_name": repo.name,
                "config_file": "replicas.json" if (repo.warm_hook or repo.start_hook) else None,
                kind: repo.warm_hook if kind == "warm_hook" else repo.start_hook,
            }
            for repo in self.repositories_for(env.id)
        ]


def config_of(request: Request) -> OrgConfig:
    """The caller's organization configuration (put on the request by the auth middleware)."""
    config: OrgConfig = request.state.config
    return config


def member(items: dict[str, M], item_id: str, what: str) -> M:
    item = items.get(item_id)
    if item is None:
        raise ApiError(
            404, f"{what} not found", f"No {what.lower()} with id {item_id!r} in this environment."
        )
    return item


def _unique(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))


def config_routes() -> list[BaseRoute]:
    """Routes for repositories, repository sets, /v1/environments/** and /v1/environment-skills/search."""
    # Imported here: the route modules import this module for OrgConfig.
    from replicas_mcp.sandbox.config_routes_envs import environment_routes
    from replicas_mcp.sandbox.config_routes_hooks import hook_routes
    from replicas_mcp.sandbox.config_routes_resources import resource_routes

    return [*environment_routes(), *resource_routes(), *hook_routes()]
