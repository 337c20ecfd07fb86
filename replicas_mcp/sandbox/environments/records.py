"""Records of the configuration side: repositories, environments and everything attached to them.

Each record renders itself in the spec's wire shape (`to_json`). Records are plain mutable dataclasses
owned by one organization's `OrgConfig`; nothing here checks business rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, Literal

Framework = Literal["claude", "codex", "cursor", "agents"]
SkillKind = Literal["skill", "agent", "command", "prompt", "plugin"]


def _org_scoped_json(record: Any, organization_id: str, **overrides: Any) -> dict[str, Any]:
    """An environment resource in the spec's wire shape: `id`, `organization_id`, then the record's other
    fields in declaration order (values as they are, not copied), with `overrides` replacing some.

    Every field of a record rendered this way is a wire field: a field added to one goes on the wire."""
    wire: dict[str, Any] = {"id": record.id, "organization_id": organization_id}
    wire.update((each.name, getattr(record, each.name)) for each in fields(record) if each.name != "id")
    wire.update(overrides)
    return wire


class SecretValue:
    """A variable's value. Its repr never shows the value, so it cannot leak into logs or tracebacks.

    (The real API encrypts values at rest and decrypts on read; the in-memory sandbox only has to make
    sure the plaintext is never printed by accident.)
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "SecretValue('***')"

    __str__ = __repr__


@dataclass(frozen=True)
class RepoFile:
    """A skill/agent/command/prompt file committed to a sample repository."""

    path: str
    name: str
    description: str | None
    framework: Framework
    kind: SkillKind


@dataclass(frozen=True)
class RepositoryRecord:
    id: str
    name: str  # owner/name, as the dashboard shows it
    url: str
    default_branch: str
    warm_hook: str | None = None  # from the repository's replicas.json
    start_hook: str | None = None
    skill_files: tuple[RepoFile, ...] = ()

    @property
    def full_name(self) -> str:
        return self.url.removeprefix("https://github.com/")

    def to_json(self) -> dict[str, Any]:
        """The spec's `Repository`."""
        return {"id": self.id, "name": self.name, "url": self.url, "default_branch": self.default_branch}


@dataclass(frozen=True)
class RepositorySetRecord:
    id: str
    name: str
    description: str | None
    repository_ids: tuple[str, ...]


@dataclass
class VariableRecord:
    id: str
    environment_id: str
    key: str
    value: SecretValue
    personal_override_allowed: bool
    created_at: str
    updated_at: str

    def to_json(self, organization_id: str) -> dict[str, Any]:
        # The spec returns values in plaintext ("encrypted at rest, decrypted on read").
        return _org_scoped_json(self, organization_id, value=self.value.reveal())


@dataclass
class FileRecord:
    id: str
    environment_id: str
    name: str
    path: str
    content: str
    created_at: str
    updated_at: str

    def to_json(self, organization_id: str) -> dict[str, Any]:
        return _org_scoped_json(self, organization_id)


@dataclass
class SkillRecord:
    id: str
    environment_id: str
    name: str
    slug: str
    source: str
    created_at: str
    updated_at: str

    def to_json(self, organization_id: str) -> dict[str, Any]:
        return _org_scoped_json(self, organization_id)


@dataclass
class RegistryRecord:
    id: str
    environment_id: str
    name: str
    url: str
    repository_full_name: str
    default_branch: str
    created_at: str
    updated_at: str

    def to_json(self, organization_id: str) -> dict[str, Any]:
        return _org_scoped_json(self, organization_id)


@dataclass
class McpRecord:
    id: str
    environment_id: str
    name: str
    transport: str
    config: dict[str, Any]
    created_at: str
    updated_at: str

    def to_json(self, organization_id: str) -> dict[str, Any]:
        return _org_scoped_json(self, organization_id)


@dataclass
class HookRecord:
    """One saved version of a warm hook or a start hook (same wire shape for both)."""

    id: str
    environment_id: str
    version: int
    content: str
    is_active: bool
    created_at: str

    def to_json(self, organization_id: str) -> dict[str, Any]:
        return _org_scoped_json(self, organization_id)


@dataclass
class WarmPoolRecord:
    """Warm pool settings plus the state of its last (simulated) warm-up round."""

    id: str
    environment_id: str
    enabled: bool
    target_size: int
    generation: int
    updated_at: str
    warming_since: float  # monotonic seconds; pool counts are derived from the time since then
    warm_seconds: float  # how long (wall clock) one warm-up round takes at the sandbox's time scale
    failure_reason: str | None = None
    failure_at: str | None = None
    retry_at: str | None = None
    ready_before: int = 0  # workspaces of the previous generation, still claimable while warming


@dataclass
class EnvironmentRecord:
    id: str
    organization_id: str
    name: str
    created_at: str
    updated_at: str
    is_global: bool = False
    user_id: str | None = None
    description: str | None = None
    repository_id: str | None = None
    repository_set_id: str | None = None
    system_prompt: str | None = None
    mobile_testing_enabled: bool = False
    personal_preferences: str | None = None
    source_environment_id: str | None = None
    variables: dict[str, VariableRecord] = field(default_factory=dict)
    files: dict[str, FileRecord] = field(default_factory=dict)
    skills: dict[str, SkillRecord] = field(default_factory=dict)
    registries: dict[str, RegistryRecord] = field(default_factory=dict)
    mcps: dict[str, McpRecord] = field(default_factory=dict)
    warm_hooks: list[HookRecord] = field(default_factory=list)
    start_hooks: list[HookRecord] = field(default_factory=list)
    warm_pool: WarmPoolRecord | None = None

    @property
    def scope(self) -> Literal["org", "user"]:
        return "user" if self.user_id is not None else "org"

    @property
    def active_warm_hook(self) -> HookRecord | None:
        return next((hook for hook in self.warm_hooks if hook.is_active), None)

    @property
    def active_start_hook(self) -> HookRecord | None:
        return next((hook for hook in self.start_hooks if hook.is_active), None)
