"""Environments and everything attached to them: variables, files, skills, skill registries, MCPs,
warm hooks, start hooks and warm pools.

Field names are the wire names of the vendor's OpenAPI contract. Only identity fields are
required, so a record the API trims or grows still parses.
Timestamps are kept as the ISO-8601 strings the API sends, as in the client's other models.

Secrets: a variable's `value` and an MCP config's `env` / `headers` values never appear in `repr()` or
`str()` (they print as `***`), and a parse failure does not echo its input. The values stay readable as
plain attributes, because callers need them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, ClassVar, Literal

from pydantic import ConfigDict, Field, ValidationInfo, field_validator, model_validator

from replicas_mcp.client._redact import MASK
from replicas_mcp.client.models._base import ApiModel, OpenStr

__all__ = [
    "HOOK_STREAM_TERMINAL_EVENTS",
    "MAX_FILE_CONTENT_BYTES",
    "Environment",
    "EnvironmentFile",
    "EnvironmentMcp",
    "EnvironmentMcpHttpConfig",
    "EnvironmentMcpStdioConfig",
    "EnvironmentScope",
    "EnvironmentSkill",
    "EnvironmentVariable",
    "HookStreamEvent",
    "HookStreamEventType",
    "HookTestResult",
    "McpConfig",
    "McpTransport",
    "OpaqueMcpConfig",
    "RepoSkill",
    "RepoSkillFrameworkValue",
    "RepoSkillKindValue",
    "RepoSkillList",
    "SaveAndTestResult",
    "SearchSkill",
    "SkillSearchResult",
    "SkillsRegistry",
    "StartHookRecord",
    "StartHookTestResult",
    "StartHooks",
    "WarmHookRecord",
    "WarmHookTestResult",
    "WarmHooks",
    "WarmPoolConfig",
    "WarmPoolConfigWithStats",
    "mcp_config_for",
]

MAX_FILE_CONTENT_BYTES = 64 * 1024
"""The API's limit on an environment file's content (65,536 bytes of UTF-8)."""

EnvironmentScope = Literal["org", "user", "all"]
McpTransport = Literal["stdio", "http", "sse"]
HookStreamEventType = Literal["progress", "output", "complete", "error"]
HOOK_STREAM_TERMINAL_EVENTS: frozenset[str] = frozenset({"complete", "error"})


def _masked(value: object) -> object:
    """What a secret-bearing value looks like in a repr: mappings keep their keys, values become ***."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        return dict.fromkeys(value, MASK)
    return MASK


class _SecretBearing(ApiModel):
    """A model some of whose fields are secrets: masked in repr/str, never echoed in parse errors."""

    model_config = ConfigDict(hide_input_in_errors=True)
    _secret_fields: ClassVar[frozenset[str]] = frozenset()
    # True: every field is treated as secret (a config whose shape this client does not know).
    _all_secret: ClassVar[bool] = False

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            if self._all_secret or name in self._secret_fields:
                yield name, _masked(value)
            else:
                yield name, value


class Environment(ApiModel):
    """The config bundle workspaces are created from; `is_global` marks the org's singleton Global env."""

    id: str
    name: str
    organization_id: str | None = None
    user_id: str | None = None
    description: str | None = None
    is_global: bool = False
    repository_id: str | None = None
    repository_set_id: str | None = None
    system_prompt: str | None = None
    mobile_testing_enabled: bool | None = None
    personal_preferences: str | None = None
    source_environment_id: str | None = None
    variable_count: int | None = None
    file_count: int | None = None
    skill_count: int | None = None
    mcp_count: int | None = None
    created_at: str | None = None
    updated_at: str | None = None


class EnvironmentVariable(_SecretBearing):
    """A variable; `value` is a secret (shown as *** in repr/str, readable as `.value`)."""

    _secret_fields: ClassVar[frozenset[str]] = frozenset({"value"})

    id: str
    key: str
    value: str = ""
    organization_id: str | None = None
    environment_id: str | None = None
    personal_override_allowed: bool | None = None
    created_at: str | None = None
    updated_at: str | None = None


class EnvironmentFile(ApiModel):
    """A file placed in every workspace at `path` (content at most 64 KB)."""

    id: str
    name: str
    path: str
    content: str = ""
    organization_id: str | None = None
    environment_id: str | None = None
    created_at: str | None = None
    updated_at: str | None = None


class EnvironmentSkill(ApiModel):
    """A skill enabled on an environment: the membership row (its `id` is what `disable` takes)."""

    id: str
    name: str
    slug: str
    source: str
    organization_id: str | None = None
    environment_id: str | None = None
    created_at: str | None = None
    updated_at: str | None = None


class SkillSearchResult(ApiModel):
    """One skills.sh catalog hit; pass its name, slug and source to `skills.enable`."""

    name: str
    slug: str
    source: str
    installs: int | None = None


SearchSkill = SkillSearchResult
"""The spec's name for `SkillSearchResult`."""

RepoSkillFrameworkValue = Literal["claude", "codex", "cursor", "agents"]
RepoSkillKindValue = Literal["skill", "agent", "command", "prompt", "plugin"]


class RepoSkill(ApiModel):
    """A skill/agent/command file discovered in a repository (read-only, no database row)."""

    id: str
    name: str
    path: str | None = None
    repository_id: str | None = None
    repository_full_name: str | None = None
    branch: str | None = None
    description: str | None = None
    framework: OpenStr | None = None  # one of RepoSkillFrameworkValue
    kind: OpenStr | None = None  # one of RepoSkillKindValue
    html_url: str | None = None


class RepoSkillList(ApiModel):
    """Skills discovered in the environment's bound repository; `error` reports a partial failure."""

    repo_skills: list[RepoSkill] = Field(default_factory=list)
    error: str | None = None


class SkillsRegistry(ApiModel):
    """A GitHub repository registered as a skill registry, with the skills discovered in it."""

    id: str
    url: str
    name: str | None = None
    organization_id: str | None = None
    environment_id: str | None = None
    repository_full_name: str | None = None
    default_branch: str | None = None
    repo_skills: list[RepoSkill] = Field(default_factory=list)
    error: str | None = None
    created_at: str | None = None
    updated_at: str | None = None


class EnvironmentMcpStdioConfig(_SecretBearing):
    """`transport: stdio`: a subprocess. `env` values are secrets."""

    _secret_fields: ClassVar[frozenset[str]] = frozenset({"env"})

    command: str
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)


class EnvironmentMcpHttpConfig(_SecretBearing):
    """`transport: http` or `sse`: a remote server. `headers` values are secrets."""

    _secret_fields: ClassVar[frozenset[str]] = frozenset({"headers"})

    url: str
    headers: dict[str, str] = Field(default_factory=dict)


class OpaqueMcpConfig(_SecretBearing):
    """A config for a transport this client does not know: kept as sent, every value masked in repr."""

    _all_secret: ClassVar[bool] = True


McpConfig = EnvironmentMcpStdioConfig | EnvironmentMcpHttpConfig | OpaqueMcpConfig


def mcp_config_for(transport: str, config: Mapping[str, Any] | ApiModel) -> McpConfig:
    """The typed config for a transport (stdio -> command/args/env; http, sse -> url/headers).

    Raises pydantic's ValidationError (input hidden) when a known transport's config has the wrong shape.
    """
    if isinstance(config, EnvironmentMcpStdioConfig | EnvironmentMcpHttpConfig | OpaqueMcpConfig):
        raw: Mapping[str, Any] = config.model_dump()
    elif isinstance(config, ApiModel):
        raw = config.model_dump()
    else:
        raw = config
    if transport == "stdio":
        return EnvironmentMcpStdioConfig.model_validate(raw)
    if transport in ("http", "sse"):
        return EnvironmentMcpHttpConfig.model_validate(raw)
    return OpaqueMcpConfig.model_validate(raw)


class EnvironmentMcp(_SecretBearing):
    """An MCP server attached to an environment; `config`'s shape follows `transport`."""

    id: str
    name: str
    transport: OpenStr  # one of McpTransport
    config: McpConfig
    organization_id: str | None = None
    environment_id: str | None = None
    created_at: str | None = None
    updated_at: str | None = None

    @field_validator("config", mode="before")
    @classmethod
    def _config_by_transport(cls, value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, Mapping):
            return value
        transport = info.data.get("transport")
        if not isinstance(transport, str):
            return OpaqueMcpConfig.model_validate(value)
        try:
            return mcp_config_for(transport, value)
        except ValueError:
            # What the API stored does not match its own transport: keep it, but masked.
            return OpaqueMcpConfig.model_validate(value)


class HookTestResult(ApiModel):
    """The result of running a hook script in an isolated sandbox."""

    exit_code: int
    output: str = ""
    timed_out: bool = False

    @property
    def succeeded(self) -> bool:
        """The script exited 0 within its time limit."""
        return self.exit_code == 0 and not self.timed_out


WarmHookTestResult = HookTestResult
StartHookTestResult = HookTestResult


class _HookRecord(ApiModel):
    id: str
    content: str
    version: int | None = None
    is_active: bool | None = None
    organization_id: str | None = None
    environment_id: str | None = None
    created_at: str | None = None


class WarmHookRecord(_HookRecord):
    """A version of an environment's warm hook (the script run while pre-warming workspaces)."""


class StartHookRecord(_HookRecord):
    """A version of an environment's start hook (the script run at workspace boot)."""


class WarmPoolConfig(ApiModel):
    """The warm pool of an environment, with its current counts."""

    id: str | None = None
    enabled: bool
    organization_id: str | None = None
    environment_id: str | None = None
    target_size: int | None = None
    generation: int | None = None
    error_count: int | None = None
    next_retry_at: str | None = None
    last_error_at: str | None = None
    last_error_message: str | None = None
    has_base_snapshot: bool | None = None
    updated_at: str | None = None
    ready_count: int | None = None
    stale_count: int | None = None
    warming_count: int | None = None
    snapshotting_count: int | None = None
    last_failure_at: str | None = None
    last_failure_reason: str | None = None


WarmPoolConfigWithStats = WarmPoolConfig
"""The spec's name for `WarmPoolConfig`."""


class WarmHooks(ApiModel):
    """An environment's active warm hook and warm pool (each None when never configured)."""

    warm_hook: WarmHookRecord | None = None
    warm_pool: WarmPoolConfig | None = None


class StartHooks(ApiModel):
    """An environment's active start hook (None when never saved or cleared)."""

    start_hook: StartHookRecord | None = None


class SaveAndTestResult(ApiModel):
    """The outcome of save-and-test: the test result, and the saved record (None when nothing was saved).

    The guide says a failing script is not saved; the spec says it always is. Either way `warm_hook` is
    what the API reports it saved.
    """

    test: HookTestResult
    warm_hook: WarmHookRecord | None = None

    @property
    def saved(self) -> bool:
        return self.warm_hook is not None


class HookStreamEvent(ApiModel):
    """One event of a hook test stream: `progress`, `output`, then `complete` or `error`."""

    event: OpenStr  # one of HookStreamEventType
    data: dict[str, Any] = Field(default_factory=dict)
    id: str | None = None

    @model_validator(mode="after")
    def _event_from_payload(self) -> HookStreamEvent:
        # A stream may name events only inside the payload (`{"type": "output", ...}`) and leave the SSE
        # event name at its default, "message".
        payload_type = self.data.get("type")
        if self.event == "message" and isinstance(payload_type, str):
            self.event = payload_type
        return self

    @property
    def is_terminal(self) -> bool:
        """`complete` or `error`: nothing follows it."""
        return self.event in HOOK_STREAM_TERMINAL_EVENTS

    @property
    def message(self) -> str | None:
        value = self.data.get("message")
        return value if isinstance(value, str) else None

    @property
    def output(self) -> str | None:
        value = self.data.get("output")
        return value if isinstance(value, str) else None

    @property
    def exit_code(self) -> int | None:
        value = self.data.get("exit_code")
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    @property
    def timed_out(self) -> bool | None:
        value = self.data.get("timed_out")
        return value if isinstance(value, bool) else None

    @property
    def warm_hook(self) -> WarmHookRecord | None:
        """The saved record carried by a save-test stream's `complete` event, if any."""
        value = self.data.get("warm_hook")
        return WarmHookRecord.model_validate(value) if isinstance(value, Mapping) else None
