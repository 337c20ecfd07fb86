"""The results of the environments toolset: what `get_environment`, `save_environment`, the skills search
and hook tests return (their models are the tools' output schemas)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel

from replicas_mcp.server.tools import ToolResult

if TYPE_CHECKING:
    from replicas_mcp.client.models.environments import Environment


class Part(ToolResult):
    """One part of an environment. `name`: a variable's key, a file's path, an MCP's, skill's slug or
    registry's URL. `value`: a variable's value or file's content, or an MCP's transport and config as
    JSON (secrets masked unless revealed)."""

    kind: str  # variable, file, mcp, skill or registry
    id: str
    name: str
    value: str | None = None


class SetPart(Part):
    """What set_environment_item did: `replaced` says whether an item of that name was there already (its
    masked value in `was`), since removing a replaced item later deletes what the team had set up."""

    replaced: bool = False
    was: str | None = None
    note: str | None = None


class EnvironmentView(ToolResult):
    id: str
    name: str
    is_global: bool = False
    description: str | None = None
    repository_id: str | None = None
    repository_set_id: str | None = None
    system_prompt: str | None = None
    parts: list[Part] | None = None
    warm_hook: str | None = None
    start_hook: str | None = None
    warm_pool: bool | None = None
    note: str | None = None


class EnvironmentSummary(ToolResult):
    id: str
    name: str
    repository_id: str | None = None
    repository_set_id: str | None = None
    warm_pool: bool | None = None

    @classmethod
    def of(cls, env: Environment) -> EnvironmentSummary:
        return cls(
            id=env.id, name=env.name, repository_id=env.repository_id, repository_set_id=env.repository_set_id
        )


class RepoSet(BaseModel):
    id: str
    name: str
    repos: list[str]


class RepositorySetList(ToolResult):
    sets: list[RepoSet]


class SkillHit(BaseModel):
    name: str
    slug: str
    source: str


class SkillHits(ToolResult):
    skills: list[SkillHit]


class HookOutcome(ToolResult):
    hook: str
    exit_code: int | None = None
    timed_out: bool | None = None
    passed: bool | None = None  # None: not tested
    saved: bool
    output: str
