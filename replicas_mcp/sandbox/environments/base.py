"""The state every part of an organization's configuration shares, and how things are looked up in it.

`ConfigBase` holds the repositories, repository sets and environments of one organization and resolves
them (`global` is accepted wherever an environment id is; another user's personal environment does not
exist for a caller). `OrgConfig` (store.py) adds the rules that change them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from replicas_mcp.sandbox.clock import Clock
from replicas_mcp.sandbox.environments import hookrunner
from replicas_mcp.sandbox.environments.records import EnvironmentRecord, RepositoryRecord, RepositorySetRecord
from replicas_mcp.sandbox.environments.seed import sample_repositories, sample_repository_sets
from replicas_mcp.sandbox.errors import ApiError
from replicas_mcp.sandbox.ids import IdFactory
from replicas_mcp.sandbox.tenancy import Caller

GLOBAL_ALIAS = "global"

EnvironmentUsers = Callable[[str], list[str]]
M = TypeVar("M")


def environment_not_found(environment_id: str, status: int = 404) -> ApiError:
    return ApiError(
        status,
        "Environment not found",
        f"No environment with id {environment_id!r} in this organization. List environments with "
        "GET /v1/environments, or use 'global' for the Global environment.",
    )


def member(items: dict[str, M], item_id: str, what: str) -> M:
    item = items.get(item_id)
    if item is None:
        raise ApiError(
            404, f"{what} not found", f"No {what.lower()} with id {item_id!r} in this environment."
        )
    return item


class ConfigBase:
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

    # ------------------------------------------------------------------------------- repositories
    def repositories(self) -> list[RepositoryRecord]:
        return list(self._repositories.values())

    def repository_sets(self) -> list[RepositorySetRecord]:
        return list(self._repository_sets.values())

    def repository(self, repository_id: str) -> RepositoryRecord:
        """A repository by id (KeyError when unknown: for ids taken from records, which are always known)."""
        return self._repositories[repository_id]

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

    # ---------------------------------------------------------------------------------- lookups
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

    def find(self, environment_id: str) -> EnvironmentRecord | None:
        """An environment by id, or None (no alias, no visibility check)."""
        return self._environments.get(environment_id)

    def binding_of(self, env: EnvironmentRecord) -> EnvironmentRecord:
        """Whose repository binding and system prompt apply: a source-backed personal env's source."""
        if env.source_environment_id is not None and env.user_id is not None:
            source = self._environments.get(env.source_environment_id)
            if source is not None:
                return source
        return env

    def repositories_for(self, environment_id: str) -> list[RepositoryRecord]:
        binding = self.binding_of(self.environment(environment_id))
        if binding.repository_id is not None:
            return [self._repositories[binding.repository_id]]
        if binding.repository_set_id is not None:
            repository_set = self._repository_sets[binding.repository_set_id]
            return [self._repositories[rid] for rid in repository_set.repository_ids]
        return []

    def start_hook_script(self, environment_id: str) -> str | None:
        """The environment's own active start hook (the Global one is read with `"global"`)."""
        hook = self.environment(environment_id).active_start_hook
        return hook.content if hook else None

    def warm_hook_script(self, environment_id: str) -> str | None:
        hook = self.environment(environment_id).active_warm_hook
        return hook.content if hook else None

    def _detach(self, env: EnvironmentRecord, items: dict[str, Any], item_id: str, what: str) -> None:
        """Remove one of the environment's items (404 `{what} not found` when it has none with that id)."""
        member(items, item_id, what)
        del items[item_id]
        self._touch(env)

    def _touch(self, env: EnvironmentRecord) -> str:
        env.updated_at = self.clock.iso()
        return env.updated_at
