"""One organization's configuration: repositories, repository sets and environments with everything
attached to them (variables, files, skills, skill registries, MCPs, warm and start hooks, warm pool).

`OrgConfig` holds the state and the business rules: lookups in `base.py`, variables/files/skills/MCPs in
`parts.py`, hooks and warm pools in `pools.py`, environments themselves here; `shapes.py` renders what
the records do not, and the routes are in `routes.py`, `part_routes.py` and `hook_routes.py`.
Rules worth knowing (see docs/sandbox-config.md for the full list):

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

from dataclasses import replace
from typing import Any, TypeVar

from replicas_mcp.sandbox.environments import shapes
from replicas_mcp.sandbox.environments.base import EnvironmentUsers
from replicas_mcp.sandbox.environments.parts import EnvironmentParts
from replicas_mcp.sandbox.environments.records import (
    EnvironmentRecord,
    FileRecord,
    McpRecord,
    RegistryRecord,
    SkillRecord,
    VariableRecord,
)
from replicas_mcp.sandbox.environments.seeding import Seeding
from replicas_mcp.sandbox.errors import bad_request, conflict
from replicas_mcp.sandbox.http import UNSET, Unset
from replicas_mcp.sandbox.tenancy import Caller

__all__ = ["OrgConfig"]

R = TypeVar("R", VariableRecord, FileRecord, SkillRecord, McpRecord, RegistryRecord)


class OrgConfig(EnvironmentParts, Seeding):
    """One organization's configuration: environments and everything attached to them, with the rules."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._seed()

    def environment_summary(self, environment_id: str) -> dict[str, Any]:
        """The spec's `ReplicaEnvironment` (for `include=environment`): variable keys only, never values."""
        return shapes.environment_summary(self, environment_id)

    # --------------------------------------------------------------------------------- environments
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
