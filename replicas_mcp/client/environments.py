"""`client.environments`: environments and their variables, files, skills, skill registries, MCPs,
warm hooks, start hooks and warm pools.

Every `env_id` accepts the literal `"global"` for the organization's Global environment.

Checks that need no API state (file size, MCP name and config shape, mutually exclusive repository
bindings, empty updates) fail fast with `RequestValidationError`; rules that depend on state (the
Global environment cannot be deleted, an automation still uses an environment) are left to the API,
whose answer is the authority.

The hook scripts and the warm pool live in `environment_hooks.py`; they hang off `Environments` as
`warm_hooks`, `start_hooks` and `warm_pool`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pydantic import ValidationError

from replicas_mcp.client._envelope import items, unwrap
from replicas_mcp.client._fields import UNSET, Unset, patch_body, request_body
from replicas_mcp.client._http import api_path
from replicas_mcp.client._resource import Resource
from replicas_mcp.client.environment_hooks import StartHooksApi, WarmHooksApi, WarmPoolApi
from replicas_mcp.client.errors import NotFoundError, RequestValidationError
from replicas_mcp.client.models._base import ApiModel
from replicas_mcp.client.models.environments import (
    MAX_FILE_CONTENT_BYTES,
    Environment,
    EnvironmentFile,
    EnvironmentMcp,
    EnvironmentSkill,
    EnvironmentVariable,
    RepoSkillList,
    SkillSearchResult,
    SkillsRegistry,
    mcp_config_for,
)

if TYPE_CHECKING:
    from replicas_mcp.client._http import HttpCore

__all__ = [
    "EnvironmentFiles",
    "EnvironmentMcps",
    "EnvironmentSkills",
    "EnvironmentVariables",
    "Environments",
    "SkillRegistries",
    "StartHooksApi",
    "WarmHooksApi",
    "WarmPoolApi",
]

# The API's MCP name rule, checked here so a bad name fails before a round trip.
_MCP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_RESERVED_MCP_PREFIX = "replicas-"
# UpdateEnvironmentRequest's nullable fields: None clears them (sent as null).
_ENVIRONMENT_NULLABLE = frozenset(
    {"description", "repository_id", "repository_set_id", "system_prompt", "personal_preferences"}
)
# Transports that share a config shape: a PATCH within one family merges with the stored config.
_TRANSPORT_FAMILY = {"stdio": "stdio", "http": "remote", "sse": "remote"}


def _env_path(env_id: str, *rest: str, suffix: str = "") -> str:
    """`/v1/environments/{env_id}{suffix}` with every id percent-encoded (`global` passes as is)."""
    return api_path("/v1/environments/{}" + suffix, env_id, *rest)


def _check_file_content(content: str) -> None:
    size = len(content.encode("utf-8"))
    if size > MAX_FILE_CONTENT_BYTES:
        raise RequestValidationError(
            f"file content is {size} bytes; the limit is {MAX_FILE_CONTENT_BYTES} bytes (64 KB)",
            field="content",
        )


def _check_mcp_name(name: str) -> None:
    if not _MCP_NAME.match(name):
        raise RequestValidationError(
            f"MCP name {name!r} must be 1-64 letters, digits, '_' or '-', starting with a letter or digit",
            field="name",
        )
    if name.lower().startswith(_RESERVED_MCP_PREFIX):
        raise RequestValidationError(f"MCP name {name!r} uses the reserved prefix 'replicas-'", field="name")


def _mcp_config_body(transport: str, config: Mapping[str, Any] | ApiModel) -> dict[str, Any]:
    """The wire form of an MCP config, checked against its transport's shape.

    The error names the missing or wrong fields but never echoes values (env and headers are secrets).
    """
    try:
        typed = mcp_config_for(transport, config)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'config'}: {error['msg']}"
            for error in exc.errors()
        )
        expected = "{command, args, env}" if transport == "stdio" else "{url, headers}"
        raise RequestValidationError(
            f"config does not fit transport {transport!r} (expects {expected}): {problems}", field="config"
        ) from None
    return typed.model_dump(mode="json")


def _origin(url: object) -> tuple[str, str, int | None] | None:
    if not isinstance(url, str):
        return None
    try:
        parts = urlsplit(url)
        return (parts.scheme.lower(), (parts.hostname or "").lower(), parts.port)
    except ValueError:
        return None


def _merged_mcp_config(
    current: EnvironmentMcp, transport: str, config: Mapping[str, Any] | ApiModel | Unset
) -> dict[str, Any]:
    """The whole config to PATCH: the caller's fields over the stored ones (same-shaped transports)."""
    given: dict[str, Any] = (
        {}
        if isinstance(config, Unset)
        else config.model_dump()
        if isinstance(config, ApiModel)
        else dict(config)
    )
    family = _TRANSPORT_FAMILY.get(transport)
    if family is None or family != _TRANSPORT_FAMILY.get(current.transport):
        if isinstance(config, Unset):
            raise RequestValidationError(
                f"changing transport from {current.transport!r} to {transport!r} needs a whole config of"
                " the new shape",
                field="config",
            )
        return _mcp_config_body(transport, given)
    stored = current.config.model_dump()
    if "url" in given and _origin(given["url"]) != _origin(stored.get("url")):
        stored.pop("headers", None)  # headers meant for one server never go to another
    if "command" in given and given["command"] != stored.get("command"):
        stored.pop("args", None)
        stored.pop("env", None)
    return _mcp_config_body(transport, {**stored, **given})


class Environments(Resource):
    """Environments: the configuration every workspace is created from."""

    def __init__(self, http: HttpCore) -> None:
        super().__init__(http)
        self.variables = EnvironmentVariables(http)
        self.files = EnvironmentFiles(http)
        self.skills = EnvironmentSkills(http)
        self.skill_registries = SkillRegistries(http)
        self.mcps = EnvironmentMcps(http)
        self.warm_hooks = WarmHooksApi(http)
        self.start_hooks = StartHooksApi(http)
        self.warm_pool = WarmPoolApi(http)

    async def list(self, *, scope: str | None = None) -> list[Environment]:
        """Every environment visible to the caller, the Global one included (`scope`: org, user, all)."""
        data = await self._http.request_json("GET", "/v1/environments", params={"scope": scope})
        return [Environment.model_validate(item) for item in items(data, "environments")]

    async def get(self, environment_id: str) -> Environment:
        """One environment; `"global"` is the organization's Global environment."""
        data = await self._http.request_json("GET", _env_path(environment_id))
        return Environment.model_validate(unwrap(data, "environment"))

    async def create(
        self,
        *,
        name: str,
        description: str | Unset | None = UNSET,
        repository_id: str | Unset | None = UNSET,
        repository_set_id: str | Unset | None = UNSET,
        system_prompt: str | Unset | None = UNSET,
        scope: str | Unset | None = UNSET,
        source_environment_id: str | Unset | None = UNSET,
        mobile_testing_enabled: bool | Unset | None = UNSET,
    ) -> Environment:
        """A new environment, bound to a repository, a repository set, or nothing (not both)."""
        if not name.strip():
            raise RequestValidationError("an environment needs a non-empty name", field="name")
        if repository_id and repository_set_id:
            raise RequestValidationError(
                "repository_id and repository_set_id are mutually exclusive", field="repository_set_id"
            )
        body = request_body(
            name=name,
            description=description,
            repository_id=repository_id,
            repository_set_id=repository_set_id,
            system_prompt=system_prompt,
            scope=scope,
            source_environment_id=source_environment_id,
            mobile_testing_enabled=mobile_testing_enabled,
        )
        data = await self._http.request_json("POST", "/v1/environments", json=body)
        return Environment.model_validate(unwrap(data, "environment"))

    async def update(
        self,
        environment_id: str,
        *,
        name: str | Unset = UNSET,
        description: str | Unset | None = UNSET,
        repository_id: str | Unset | None = UNSET,
        repository_set_id: str | Unset | None = UNSET,
        system_prompt: str | Unset | None = UNSET,
        mobile_testing_enabled: bool | Unset = UNSET,
        personal_preferences: str | Unset | None = UNSET,
    ) -> Environment:
        """Change only the fields passed; a field passed as None is cleared (sent as null).

        The Global environment's own fields cannot be changed (the API answers 400); its variables,
        files, skills and hooks can.
        """
        body = patch_body(
            nullable=_ENVIRONMENT_NULLABLE,
            name=name,
            description=description,
            repository_id=repository_id,
            repository_set_id=repository_set_id,
            system_prompt=system_prompt,
            mobile_testing_enabled=mobile_testing_enabled,
            personal_preferences=personal_preferences,
        )
        if not body:
            raise RequestValidationError("nothing to update: pass at least one field")
        if body.get("repository_id") is not None and body.get("repository_set_id") is not None:
            raise RequestValidationError(
                "repository_id and repository_set_id are mutually exclusive", field="repository_set_id"
            )
        data = await self._http.request_json("PATCH", _env_path(environment_id), json=body)
        return Environment.model_validate(unwrap(data, "environment"))

    async def delete(self, environment_id: str) -> None:
        """Delete an environment (409 for the Global one, or while an automation references it)."""
        await self._http.request_json("DELETE", _env_path(environment_id))


class EnvironmentVariables(Resource):
    """Environment variables (values are secrets: masked in reprs, never logged)."""

    async def list(self, env_id: str) -> list[EnvironmentVariable]:
        data = await self._http.request_json("GET", _env_path(env_id, suffix="/variables"))
        return [EnvironmentVariable.model_validate(item) for item in items(data, "environment_variables")]

    async def create(
        self,
        env_id: str,
        *,
        key: str,
        value: str,
        personal_override_allowed: bool | Unset | None = UNSET,
    ) -> EnvironmentVariable:
        if not key:
            raise RequestValidationError("a variable needs a non-empty key", field="key")
        body = request_body(key=key, value=value, personal_override_allowed=personal_override_allowed)
        data = await self._http.request_json("POST", _env_path(env_id, suffix="/variables"), json=body)
        return EnvironmentVariable.model_validate(unwrap(data, "environment_variable"))

    async def update(
        self,
        env_id: str,
        var_id: str,
        *,
        key: str | Unset = UNSET,
        value: str | Unset = UNSET,
        personal_override_allowed: bool | Unset = UNSET,
    ) -> EnvironmentVariable:
        """Change the key and/or value (omitted = unchanged; none of them can be cleared)."""
        body = patch_body(key=key, value=value, personal_override_allowed=personal_override_allowed)
        if not body:
            raise RequestValidationError("nothing to update: pass key, value or personal_override_allowed")
        path = _env_path(env_id, var_id, suffix="/variables/{}")
        data = await self._http.request_json("PATCH", path, json=body)
        return EnvironmentVariable.model_validate(unwrap(data, "environment_variable"))

    async def delete(self, env_id: str, var_id: str) -> None:
        await self._http.request_json("DELETE", _env_path(env_id, var_id, suffix="/variables/{}"))


class EnvironmentFiles(Resource):
    """Files written into every workspace at their `path` (content at most 64 KB)."""

    async def list(self, env_id: str) -> list[EnvironmentFile]:
        data = await self._http.request_json("GET", _env_path(env_id, suffix="/files"))
        return [EnvironmentFile.model_validate(item) for item in items(data, "environment_files")]

    async def create(self, env_id: str, *, name: str, path: str, content: str) -> EnvironmentFile:
        _check_file_content(content)
        body = {"name": name, "path": path, "content": content}
        data = await self._http.request_json("POST", _env_path(env_id, suffix="/files"), json=body)
        return EnvironmentFile.model_validate(unwrap(data, "environment_file"))

    async def update(
        self,
        env_id: str,
        file_id: str,
        *,
        name: str | Unset = UNSET,
        path: str | Unset = UNSET,
        content: str | Unset = UNSET,
    ) -> EnvironmentFile:
        """Change name, path and/or content (omitted = unchanged; none of them can be cleared)."""
        if isinstance(content, str):
            _check_file_content(content)
        body = patch_body(name=name, path=path, content=content)
        if not body:
            raise RequestValidationError("nothing to update: pass name, path or content")
        data = await self._http.request_json(
            "PATCH", _env_path(env_id, file_id, suffix="/files/{}"), json=body
        )
        return EnvironmentFile.model_validate(unwrap(data, "environment_file"))

    async def delete(self, env_id: str, file_id: str) -> None:
        await self._http.request_json("DELETE", _env_path(env_id, file_id, suffix="/files/{}"))


class EnvironmentSkills(Resource):
    """skills.sh skills: search the catalog, enable on an environment, disable."""

    async def search(self, q: str) -> list[SkillSearchResult]:
        data = await self._http.request_json("GET", "/v1/environment-skills/search", params={"q": q})
        return [SkillSearchResult.model_validate(item) for item in items(data, "skills")]

    async def list(self, env_id: str) -> list[EnvironmentSkill]:
        data = await self._http.request_json("GET", _env_path(env_id, suffix="/skills"))
        return [EnvironmentSkill.model_validate(item) for item in items(data, "environment_skills")]

    async def enable(self, env_id: str, *, name: str, slug: str, source: str) -> EnvironmentSkill:
        """Enable a catalog skill (409 when that slug or source is already enabled here)."""
        body = {"name": name, "slug": slug, "source": source}
        data = await self._http.request_json("POST", _env_path(env_id, suffix="/skills"), json=body)
        return EnvironmentSkill.model_validate(unwrap(data, "environment_skill"))

    async def disable(self, env_id: str, skill_id: str) -> None:
        """Disable by the membership id (`EnvironmentSkill.id`), not the catalog slug."""
        await self._http.request_json("DELETE", _env_path(env_id, skill_id, suffix="/skills/{}"))

    async def repo_skills(self, env_id: str) -> RepoSkillList:
        """Skills committed to the environment's bound repository (read-only; empty when unbound)."""
        data = await self._http.request_json("GET", _env_path(env_id, suffix="/repo-skills"))
        return RepoSkillList.model_validate(data)


class SkillRegistries(Resource):
    """GitHub repositories whose skills are installed into workspaces."""

    async def list(self, env_id: str) -> list[SkillsRegistry]:
        data = await self._http.request_json("GET", _env_path(env_id, suffix="/skills-registries"))
        return [SkillsRegistry.model_validate(item) for item in items(data, "registries")]

    async def add(self, env_id: str, *, url: str) -> SkillsRegistry:
        """Register a repository; the result carries the skills discovered in it."""
        if not url.strip():
            raise RequestValidationError("a skill registry needs a repository URL", field="url")
        path = _env_path(env_id, suffix="/skills-registries")
        data = await self._http.request_json("POST", path, json={"url": url})
        # The answer is {registry, repo_skills, error}: fold it into one record like the list's.
        if isinstance(data, Mapping) and isinstance(data.get("registry"), Mapping):
            merged = {**data["registry"], **{k: v for k, v in data.items() if k != "registry"}}
            return SkillsRegistry.model_validate(merged)
        return SkillsRegistry.model_validate(data)

    async def remove(self, env_id: str, registry_id: str) -> None:
        await self._http.request_json(
            "DELETE", _env_path(env_id, registry_id, suffix="/skills-registries/{}")
        )


class EnvironmentMcps(Resource):
    """MCP servers attached to an environment (config env/headers values are secrets)."""

    async def list(self, env_id: str) -> list[EnvironmentMcp]:
        data = await self._http.request_json("GET", _env_path(env_id, suffix="/mcps"))
        return [EnvironmentMcp.model_validate(item) for item in items(data, "environment_mcps")]

    async def create(
        self, env_id: str, *, name: str, transport: str, config: Mapping[str, Any] | ApiModel
    ) -> EnvironmentMcp:
        """Attach an MCP: stdio takes {command, args, env}; http and sse take {url, headers}."""
        _check_mcp_name(name)
        body = {"name": name, "transport": transport, "config": _mcp_config_body(transport, config)}
        data = await self._http.request_json("POST", _env_path(env_id, suffix="/mcps"), json=body)
        return EnvironmentMcp.model_validate(unwrap(data, "environment_mcp"))

    async def update(
        self,
        env_id: str,
        mcp_id: str,
        *,
        name: str | Unset = UNSET,
        transport: str | Unset = UNSET,
        config: Mapping[str, Any] | ApiModel | Unset = UNSET,
    ) -> EnvironmentMcp:
        """Change name, transport and/or config (omitted = unchanged).

        The contract wants a whole config on PATCH (stdio: command, args, env; http/sse: url, headers),
        so a partial `config` is merged with the stored one (read first, one extra request): passing
        only `{"url": ...}` keeps the headers. Credentials do not follow a change of target: a new URL
        origin drops the stored headers, a new command drops the stored args and env. A transport of the
        other shape (stdio <-> http/sse) needs a whole config of that shape.
        """
        body = patch_body(name=name, transport=transport, config=config)
        if isinstance(name, str):
            _check_mcp_name(name)
        if not body:
            raise RequestValidationError("nothing to update: pass name, transport or config")
        if "config" in body or "transport" in body:
            current = await self._find(env_id, mcp_id)
            new_transport = transport if isinstance(transport, str) else current.transport
            body["config"] = self.planned_config(current, new_transport, config)
        data = await self._http.request_json("PATCH", _env_path(env_id, mcp_id, suffix="/mcps/{}"), json=body)
        return EnvironmentMcp.model_validate(unwrap(data, "environment_mcp"))

    @staticmethod
    def planned_config(
        current: EnvironmentMcp, transport: str, config: Mapping[str, Any] | ApiModel | Unset = UNSET
    ) -> dict[str, Any]:
        """The whole config `update` would send for this change of `current` (see `update`), e.g. to show it
        before asking; raises `RequestValidationError` as `update` would."""
        return _merged_mcp_config(current, transport, config)

    async def _find(self, env_id: str, mcp_id: str) -> EnvironmentMcp:
        """The stored MCP (the API has no single-MCP GET: it is found in the environment's list)."""
        for mcp in await self.list(env_id):
            if mcp.id == mcp_id:
                return mcp
        raise NotFoundError(
            f"MCP {mcp_id} is not attached to environment {env_id}; list them with environments.mcps.list",
            status=404,
        )

    async def delete(self, env_id: str, mcp_id: str) -> None:
        await self._http.request_json("DELETE", _env_path(env_id, mcp_id, suffix="/mcps/{}"))
