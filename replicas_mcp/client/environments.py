"""`client.environments`: environments and their variables, files, skills, skill registries, MCPs,
warm hooks, start hooks and warm pools.

Every `env_id` accepts the literal `"global"` for the organization's Global environment.

Checks that need no API state (file size, MCP name and config shape, mutually exclusive repository
bindings, empty updates) fail fast with `RequestValidationError`; rules that depend on state (the
Global environment cannot be deleted, an automation still uses an environment) are left to the API,
whose answer is the authority.

Hook test streams are not reconnected after a drop: re-sending the POST would run the script again
(and, in save-test mode, save it again), so a drop raises `StreamError` and the caller decides.
"""

from __future__ import annotations

import contextlib
import json as jsonlib
import re
from collections.abc import AsyncGenerator, AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any, Literal

from pydantic import ValidationError

from replicas_mcp.client._envelope import items, unwrap
from replicas_mcp.client._fields import UNSET, RequestValidationError, Unset, present_fields
from replicas_mcp.client._http import api_path
from replicas_mcp.client.errors import StreamError, TransportError
from replicas_mcp.client.models._base import ApiModel
from replicas_mcp.client.models.environments import (
    MAX_FILE_CONTENT_BYTES,
    Environment,
    EnvironmentFile,
    EnvironmentMcp,
    EnvironmentSkill,
    EnvironmentVariable,
    HookStreamEvent,
    HookTestResult,
    RepoSkillList,
    SaveAndTestResult,
    SkillSearchResult,
    SkillsRegistry,
    StartHookRecord,
    StartHooks,
    WarmHookRecord,
    WarmHooks,
    WarmPoolConfig,
    mcp_config_for,
)

if TYPE_CHECKING:
    import httpx2

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

HookStreamMode = Literal["save_test", "test_only"]

# The API's MCP name rule, checked here so a bad name fails before a round trip.
_MCP_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_RESERVED_MCP_PREFIX = "replicas-"
_KNOWN_TRANSPORTS = frozenset({"stdio", "http", "sse"})
# Hook runs provision a sandbox: quiet gaps of tens of seconds between events are normal.
_HOOK_STREAM_READ_TIMEOUT = 180.0
# Keep-alive events some servers send between real ones.
_HEARTBEAT_EVENTS = frozenset({"heartbeat", "ping", "keepalive"})


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


# Synchronous hook tests provision a real sandbox and run the script: minutes, not the default 30 s.
HOOK_TEST_READ_TIMEOUT = 300.0


class Environments:
    """Environments: the configuration every workspace is created from."""

    def __init__(self, http: HttpCore) -> None:
        self._http = http
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
        description: str | None = None,
        repository_id: str | None = None,
        repository_set_id: str | None = None,
        system_prompt: str | None = None,
        scope: str | None = None,
        source_environment_id: str | None = None,
        mobile_testing_enabled: bool | None = None,
    ) -> Environment:
        """A new environment, bound to a repository, a repository set, or nothing (not both)."""
        if not name.strip():
            raise RequestValidationError("an environment needs a non-empty name", field="name")
        if repository_id is not None and repository_set_id is not None:
            raise RequestValidationError(
                "repository_id and repository_set_id are mutually exclusive", field="repository_set_id"
            )
        body = {
            key: value
            for key, value in {
                "name": name,
                "description": description,
                "repository_id": repository_id,
                "repository_set_id": repository_set_id,
                "system_prompt": system_prompt,
                "scope": scope,
                "source_environment_id": source_environment_id,
                "mobile_testing_enabled": mobile_testing_enabled,
            }.items()
            if value is not None
        }
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
        body = present_fields(
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


class EnvironmentVariables:
    """Environment variables (values are secrets: masked in reprs, never logged)."""

    def __init__(self, http: HttpCore) -> None:
        self._http = http

    async def list(self, env_id: str) -> list[EnvironmentVariable]:
        data = await self._http.request_json("GET", _env_path(env_id, suffix="/variables"))
        return [EnvironmentVariable.model_validate(item) for item in items(data, "environment_variables")]

    async def create(
        self, env_id: str, *, key: str, value: str, personal_override_allowed: bool | None = None
    ) -> EnvironmentVariable:
        if not key:
            raise RequestValidationError("a variable needs a non-empty key", field="key")
        body: dict[str, Any] = {"key": key, "value": value}
        if personal_override_allowed is not None:
            body["personal_override_allowed"] = personal_override_allowed
        data = await self._http.request_json("POST", _env_path(env_id, suffix="/variables"), json=body)
        return EnvironmentVariable.model_validate(unwrap(data, "environment_variable"))

    async def update(
        self,
        env_id: str,
        var_id: str,
        *,
        key: str | None = None,
        value: str | None = None,
        personal_override_allowed: bool | None = None,
    ) -> EnvironmentVariable:
        """Change the key and/or value (None = leave unchanged: neither can be cleared)."""
        body = {
            name: field
            for name, field in {
                "key": key,
                "value": value,
                "personal_override_allowed": personal_override_allowed,
            }.items()
            if field is not None
        }
        if not body:
            raise RequestValidationError("nothing to update: pass key, value or personal_override_allowed")
        path = _env_path(env_id, var_id, suffix="/variables/{}")
        data = await self._http.request_json("PATCH", path, json=body)
        return EnvironmentVariable.model_validate(unwrap(data, "environment_variable"))

    async def delete(self, env_id: str, var_id: str) -> None:
        await self._http.request_json("DELETE", _env_path(env_id, var_id, suffix="/variables/{}"))


class EnvironmentFiles:
    """Files written into every workspace at their `path` (content at most 64 KB)."""

    def __init__(self, http: HttpCore) -> None:
        self._http = http

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
        name: str | None = None,
        path: str | None = None,
        content: str | None = None,
    ) -> EnvironmentFile:
        """Change name, path and/or content (None = leave unchanged)."""
        if content is not None:
            _check_file_content(content)
        body = {
            key: value
            for key, value in {"name": name, "path": path, "content": content}.items()
            if value is not None
        }
        if not body:
            raise RequestValidationError("nothing to update: pass name, path or content")
        data = await self._http.request_json(
            "PATCH", _env_path(env_id, file_id, suffix="/files/{}"), json=body
        )
        return EnvironmentFile.model_validate(unwrap(data, "environment_file"))

    async def delete(self, env_id: str, file_id: str) -> None:
        await self._http.request_json("DELETE", _env_path(env_id, file_id, suffix="/files/{}"))


class EnvironmentSkills:
    """skills.sh skills: search the catalog, enable on an environment, disable."""

    def __init__(self, http: HttpCore) -> None:
        self._http = http

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


class SkillRegistries:
    """GitHub repositories whose skills are installed into workspaces."""

    def __init__(self, http: HttpCore) -> None:
        self._http = http

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


class EnvironmentMcps:
    """MCP servers attached to an environment (config env/headers values are secrets)."""

    def __init__(self, http: HttpCore) -> None:
        self._http = http

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
        name: str | None = None,
        transport: str | None = None,
        config: Mapping[str, Any] | ApiModel | None = None,
    ) -> EnvironmentMcp:
        """Change name, transport and/or config (None = leave unchanged).

        A new transport needs a config of its shape. A config alone is checked against `transport` when
        given, else sent as is (the stored transport is not known here).
        """
        body: dict[str, Any] = {}
        if name is not None:
            _check_mcp_name(name)
            body["name"] = name
        if transport is not None:
            if config is None:
                raise RequestValidationError(
                    "changing transport needs a config of the new shape", field="config"
                )
            body["transport"] = transport
            body["config"] = _mcp_config_body(transport, config)
        elif config is not None:
            body["config"] = config.model_dump(mode="json") if isinstance(config, ApiModel) else dict(config)
        if not body:
            raise RequestValidationError("nothing to update: pass name, transport or config")
        data = await self._http.request_json("PATCH", _env_path(env_id, mcp_id, suffix="/mcps/{}"), json=body)
        return EnvironmentMcp.model_validate(unwrap(data, "environment_mcp"))

    async def delete(self, env_id: str, mcp_id: str) -> None:
        await self._http.request_json("DELETE", _env_path(env_id, mcp_id, suffix="/mcps/{}"))


def _hook_event(sse: httpx2.ServerSentEvent) -> HookStreamEvent:
    """A typed event from one SSE frame (JSON object data; other data kept as message/output text)."""
    try:
        parsed: Any = jsonlib.loads(sse.data) if sse.data else {}
    except ValueError:
        parsed = sse.data
    if not isinstance(parsed, dict):
        parsed = {"output" if sse.event == "output" else "message": parsed}
    return HookStreamEvent(event=sse.event, data=parsed, id=sse.id or None)


async def _hook_events(
    frames: AsyncIterator[httpx2.ServerSentEvent], path: str
) -> AsyncGenerator[HookStreamEvent, None]:
    """Events up to and including the terminal `complete` or `error`; a drop before it is a StreamError."""
    try:
        async for frame in frames:
            if frame.event in _HEARTBEAT_EVENTS:
                continue
            event = _hook_event(frame)
            if event.event in _HEARTBEAT_EVENTS:
                continue
            yield event
            if event.is_terminal:
                return
    except TransportError as exc:
        raise StreamError(
            f"hook stream {path} dropped before its result ({exc}); it was not re-sent because that would"
            " run the script again: read the hook's state to see what happened"
        ) from None
    raise StreamError(
        f"hook stream {path} ended without a complete or error event; read the hook's state to see"
        " what happened"
    )


@contextlib.asynccontextmanager
async def _open_hook_stream(
    http: HttpCore, path: str, body: dict[str, Any]
) -> AsyncIterator[AsyncIterator[HookStreamEvent]]:
    async with http.stream_sse("POST", path, json=body, read_timeout=_HOOK_STREAM_READ_TIMEOUT) as frames:
        events = _hook_events(frames, path)
        try:
            yield events
        finally:
            # Close the generator here, inside the connection's lifetime, not at garbage collection.
            await events.aclose()


class WarmHooksApi:
    """The environment's warm hook: the script run while pre-warming its workspaces."""

    def __init__(self, http: HttpCore) -> None:
        self._http = http

    async def get(self, env_id: str) -> WarmHooks:
        """The active warm hook and the warm pool (each None when never configured)."""
        data = await self._http.request_json("GET", _env_path(env_id, suffix="/warm-hooks"))
        return WarmHooks.model_validate(data)

    async def repository_hooks(self, env_id: str) -> dict[str, Any]:
        """The per-repository warm hooks from `replicas.json` / `replicas.yaml` of the bound repositories."""
        data = await self._http.request_json("GET", _env_path(env_id, suffix="/warm-hooks/repository-hooks"))
        return dict(data) if isinstance(data, Mapping) else {"repository_hooks": data}

    async def test(self, env_id: str, content: str) -> HookTestResult:
        """Run the script in a sandbox without saving it."""
        path = _env_path(env_id, suffix="/warm-hooks/test")
        data = await self._http.request_json(
            "POST", path, json={"content": content}, read_timeout=HOOK_TEST_READ_TIMEOUT
        )
        return HookTestResult.model_validate(unwrap(data, "test"))

    async def save(self, env_id: str, content: str) -> WarmHookRecord:
        """Save and activate the script without testing it."""
        path = _env_path(env_id, suffix="/warm-hooks/save")
        data = await self._http.request_json("POST", path, json={"content": content})
        return WarmHookRecord.model_validate(unwrap(data, "warm_hook"))

    async def save_and_test(self, env_id: str, content: str) -> SaveAndTestResult:
        """Test the script and save it if the API does (`result.saved` says whether it did)."""
        path = _env_path(env_id, suffix="/warm-hooks/save-test")
        data = await self._http.request_json(
            "POST", path, json={"content": content}, read_timeout=HOOK_TEST_READ_TIMEOUT
        )
        return SaveAndTestResult.model_validate(data)

    def stream(
        self, env_id: str, content: str, *, mode: HookStreamMode = "save_test"
    ) -> contextlib.AbstractAsyncContextManager[AsyncIterator[HookStreamEvent]]:
        """Save-and-test (or test only) with live output::

        async with client.environments.warm_hooks.stream("global", script) as events:
            async for event in events:   # progress..., output..., then complete or error
                ...
        """
        path = _env_path(env_id, suffix="/warm-hooks/save-test/stream")
        return _open_hook_stream(self._http, path, {"content": content, "mode": mode})


class StartHooksApi:
    """The environment's start hook: the script run at workspace boot."""

    def __init__(self, http: HttpCore) -> None:
        self._http = http

    async def get(self, env_id: str) -> StartHooks:
        data = await self._http.request_json("GET", _env_path(env_id, suffix="/start-hooks"))
        return StartHooks.model_validate(data)

    async def repository_hooks(self, env_id: str) -> dict[str, Any]:
        """The per-repository start hooks from `replicas.json` / `replicas.yaml` of the bound repositories."""
        data = await self._http.request_json("GET", _env_path(env_id, suffix="/start-hooks/repository-hooks"))
        return dict(data) if isinstance(data, Mapping) else {"repository_hooks": data}

    async def save(self, env_id: str, content: str) -> StartHookRecord | None:
        """Save and activate the script; empty content clears the start hook (and returns None)."""
        path = _env_path(env_id, suffix="/start-hooks/save")
        data = await self._http.request_json("POST", path, json={"content": content})
        record = unwrap(data, "start_hook")
        return StartHookRecord.model_validate(record) if record is not None else None

    async def test(self, env_id: str, content: str) -> HookTestResult:
        """Run the script in a sandbox without saving it."""
        path = _env_path(env_id, suffix="/start-hooks/test")
        data = await self._http.request_json(
            "POST", path, json={"content": content}, read_timeout=HOOK_TEST_READ_TIMEOUT
        )
        return HookTestResult.model_validate(unwrap(data, "test"))

    def stream_test(
        self, env_id: str, content: str
    ) -> contextlib.AbstractAsyncContextManager[AsyncIterator[HookStreamEvent]]:
        """Test with live output (never saves); same usage as `warm_hooks.stream`."""
        path = _env_path(env_id, suffix="/start-hooks/test/stream")
        return _open_hook_stream(self._http, path, {"content": content})


class WarmPoolApi:
    """The environment's warm pool (enabled by default on new environments)."""

    def __init__(self, http: HttpCore) -> None:
        self._http = http

    async def set(self, env_id: str, *, enabled: bool) -> WarmPoolConfig:
        data = await self._http.request_json(
            "PUT", _env_path(env_id, suffix="/warm-pools"), json={"enabled": enabled}
        )
        return WarmPoolConfig.model_validate(unwrap(data, "warm_pool"))
