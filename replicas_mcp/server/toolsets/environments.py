"""Environments: what every new replica gets (repository binding, variables, files, skills, MCPs, hooks).

Consolidated to keep the surface small: one `get_environment` reads any parts; `set_*` tools create or
update by natural key (variable key, file path, MCP name); one `remove_environment_item` removes any part;
hook tools take `hook="warm"|"start"`. Secret values stay masked unless `reveal=true` on a writable server.
"""

from __future__ import annotations

import posixpath
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Annotated, Any, Literal

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field

from replicas_mcp.server.args import EnvironmentId, Reveal
from replicas_mcp.server.registry import ToolGroup, ToolResult
from replicas_mcp.server.safety import clean_text, fence, mask, mask_mcp_config, may_reveal, truncate
from replicas_mcp.server.state import ToolContext, app_state, client_of
from replicas_mcp.server.views import Done, preview

if TYPE_CHECKING:
    from replicas_mcp.client import ReplicasClient
    from replicas_mcp.client.models.environments import Environment, EnvironmentMcp, HookStreamEvent

tools = ToolGroup("environments")

Section = Literal["variables", "files", "skills", "registries", "mcps", "hooks"]
ItemKind = Literal["variable", "file", "skill", "registry", "mcp"]
HookKind = Annotated[Literal["warm", "start"], Field(description="warm: pre-warm script; start: boot script")]
Script = Annotated[
    str, Field(max_length=65_536, description="Shell script, e.g. '#!/usr/bin/env bash\\n...'")
]

_SECTION_OF: dict[str, str] = {
    "variable": "variables",
    "file": "files",
    "skill": "skills",
    "registry": "registries",
    "mcp": "mcps",
}

HOOK_TIMEOUT = 900.0  # a hook test provisions a sandbox and runs the script: minutes, not seconds
OUTPUT_TAIL = 4000  # hook output shown: its end, where the failure usually is
SYSTEM_PROMPT_LIMIT = 2000


# --- results ------------------------------------------------------------------------------------------


class Part(ToolResult):
    """One attached part: a variable (name = key), file (name = path), skill (name = slug) or registry
    (name = URL). `value`: the variable's value (masked unless revealed) or the file's content (revealed)."""

    id: str
    name: str
    value: str | None = None


class Mcp(ToolResult):
    id: str
    name: str
    transport: str
    config: dict[str, Any]


class HookState(ToolResult):
    warm_hook: str | None = None
    warm_pool_enabled: bool | None = None
    warm_pool_ready: int | None = None
    start_hook: str | None = None


class EnvironmentView(ToolResult):
    id: str
    name: str
    is_global: bool = False
    description: str | None = None
    repository_id: str | None = None
    repository_set_id: str | None = None
    system_prompt: str | None = None
    variables: list[Part] | None = None
    files: list[Part] | None = None
    skills: list[Part] | None = None
    registries: list[Part] | None = None
    mcps: list[Mcp] | None = None
    hooks: HookState | None = None
    note: str | None = None


class EnvironmentSummary(ToolResult):
    id: str
    name: str
    repository_id: str | None = None
    repository_set_id: str | None = None

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


# --- helpers ------------------------------------------------------------------------------------------


def _environment_view(env: Environment) -> EnvironmentView:
    return EnvironmentView(
        id=env.id,
        name=env.name,
        is_global=env.is_global,
        description=preview(env.description),
        repository_id=env.repository_id,
        repository_set_id=env.repository_set_id,
        system_prompt=truncate(env.system_prompt, SYSTEM_PROMPT_LIMIT) if env.system_prompt else None,
    )


def _mcp_view(mcp: EnvironmentMcp, reveal: bool) -> Mcp:
    config = mcp.config.model_dump(mode="json")
    return Mcp(
        id=mcp.id,
        name=mcp.name,
        transport=mcp.transport,
        config=config if reveal else mask_mcp_config(config),
    )


def _reveal(ctx: ToolContext, requested: bool) -> tuple[bool, str | None]:
    """Whether to show secrets, and the note to add when the caller asked but may not."""
    read_only = app_state(ctx).settings.read_only
    if may_reveal(requested, read_only=read_only):
        return True, None
    if requested:
        return False, "Values stay masked: this server is read-only."
    return False, None


async def environment_view(
    client: ReplicasClient, environment_id: str, include: set[str], *, reveal: bool
) -> EnvironmentView:
    """The environment plus the requested parts (also used by the environment resource)."""
    envs = client.environments
    view = _environment_view(await envs.get(environment_id))
    env_id = view.id
    if "variables" in include:
        view.variables = [
            Part(id=v.id, name=v.key, value=v.value if reveal else mask(v.value))
            for v in await envs.variables.list(env_id)
        ]
    if "files" in include:
        view.files = [
            Part(id=f.id, name=f.path, value=f.content if reveal else mask(f.content))
            for f in await envs.files.list(env_id)
        ]
    if "skills" in include:
        view.skills = [Part(id=s.id, name=s.slug) for s in await envs.skills.list(env_id)]
    if "registries" in include:
        view.registries = [Part(id=r.id, name=r.url) for r in await envs.skill_registries.list(env_id)]
    if "mcps" in include:
        view.mcps = [_mcp_view(m, reveal) for m in await envs.mcps.list(env_id)]
    if "hooks" in include:
        warm = await envs.warm_hooks.get(env_id)
        start = await envs.start_hooks.get(env_id)
        view.hooks = HookState(
            warm_hook=warm.warm_hook.content if warm.warm_hook else None,
            warm_pool_enabled=warm.warm_pool.enabled if warm.warm_pool else None,
            warm_pool_ready=warm.warm_pool.ready_count if warm.warm_pool else None,
            start_hook=start.start_hook.content if start.start_hook else None,
        )
    return view


async def _hook_run(
    ctx: ToolContext, stream: AbstractAsyncContextManager[AsyncIterator[HookStreamEvent]]
) -> tuple[HookStreamEvent | None, str]:
    """Run a hook stream, forwarding progress and output lines as progress notifications.

    Returns the terminal event (complete or error) and the collected output.
    """
    output: list[str] = []
    step = 0
    async with stream as events:
        async for event in events:
            step += 1
            if event.event == "output" and event.output:
                output.append(event.output)
            line = event.output if event.event == "output" else event.message
            if line:
                await ctx.report_progress(step, None, truncate(clean_text(line).strip(), 200))
            if event.is_terminal:
                if event.output and event.event != "output":
                    output.append(event.output)
                return event, "".join(output)
    return None, "".join(output)


def _outcome(
    hook: str, exit_code: int | None, timed_out: bool | None, saved: bool, output: str, env: str
) -> HookOutcome:
    passed = exit_code == 0 and not timed_out
    tail = output[-OUTPUT_TAIL:]
    if len(output) > OUTPUT_TAIL:
        tail = f"[… {len(output) - OUTPUT_TAIL} earlier chars omitted]\n{tail}"
    return HookOutcome(
        hook=hook,
        exit_code=exit_code,
        timed_out=timed_out,
        passed=passed,
        saved=saved,
        output=fence(tail, f"{hook} hook output in environment {env}") if output else "(no output)",
    )


# --- tools --------------------------------------------------------------------------------------------


@tools.tool(title="Get environment", read_only=True)
async def get_environment(
    ctx: ToolContext,
    environment_id: EnvironmentId,
    include: Annotated[list[Section], Field(description="Parts to add")] = [],  # noqa: B006 (pydantic copies)
    reveal: Reveal = False,
) -> EnvironmentView:
    """An environment's binding and system prompt, plus the parts asked for (variables and MCP secrets
    masked). Part ids are what remove_environment_item takes."""
    show, note = _reveal(ctx, reveal)
    view = await environment_view(client_of(ctx), environment_id, set(include), reveal=show)
    view.note = note
    return view


@tools.tool(title="Create environment", read_only=False, destructive=False, idempotent=False)
async def create_environment(
    ctx: ToolContext,
    name: Annotated[str, Field(min_length=1, max_length=100)],
    repository_id: Annotated[str | None, Field(description="From list_repositories")] = None,
    repository_set_id: Annotated[
        str | None, Field(description="From list_repository_sets; not with repository_id")
    ] = None,
    description: str | None = None,
    system_prompt: Annotated[str | None, Field(description="Standing instructions for agents")] = None,
) -> EnvironmentSummary:
    """Create an environment bound to a repository or repository set (or none), with a warm pool.
    Next: set_environment_variable, create_replica."""
    env = await client_of(ctx).environments.create(
        name=name,
        description=description,
        repository_id=repository_id,
        repository_set_id=repository_set_id,
        system_prompt=system_prompt,
    )
    return EnvironmentSummary.of(env)


@tools.tool(title="Update environment", read_only=False, destructive=False, idempotent=True)
async def update_environment(
    ctx: ToolContext,
    environment_id: EnvironmentId,
    name: Annotated[str | None, Field(min_length=1, max_length=100)] = None,
    description: str | None = None,
    system_prompt: str | None = None,
    repository_id: str | None = None,
    repository_set_id: str | None = None,
) -> EnvironmentSummary:
    """Change an environment's fields given here (not the Global environment's)."""
    fields: dict[str, Any] = {
        key: value
        for key, value in {
            "name": name,
            "description": description,
            "system_prompt": system_prompt,
            "repository_id": repository_id,
            "repository_set_id": repository_set_id,
        }.items()
        if value is not None
    }
    if not fields:
        raise ToolError(
            "Nothing to update: pass at least one of name, description, system_prompt, repository."
        )
    env = await client_of(ctx).environments.update(environment_id, **fields)
    return EnvironmentSummary.of(env)


@tools.tool(title="Delete environment", read_only=False, destructive=True, idempotent=True)
async def delete_environment(ctx: ToolContext, environment_id: EnvironmentId) -> Done:
    """Delete an environment and all its parts. Refused for Global and while an automation uses it."""
    await client_of(ctx).environments.delete(environment_id)
    return Done(id=environment_id, message=f"Environment {environment_id} deleted.")


@tools.tool(title="List repository sets", read_only=True)
async def list_repository_sets(ctx: ToolContext) -> RepositorySetList:
    """Repository sets (named groups of repositories) an environment can bind to."""
    sets = await client_of(ctx).repositories.list_sets()
    return RepositorySetList(
        sets=[RepoSet(id=s.id, name=s.name, repos=[r.name for r in s.repositories]) for s in sets]
    )


@tools.tool(title="Set environment variable", read_only=False, destructive=False, idempotent=True)
async def set_environment_variable(
    ctx: ToolContext,
    environment_id: EnvironmentId,
    key: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=200)],
    value: Annotated[str, Field(max_length=65_536)],
) -> Part:
    """Create or replace a variable every new replica of the environment gets (not echoed back)."""
    envs = client_of(ctx).environments
    existing = next((v for v in await envs.variables.list(environment_id) if v.key == key), None)
    if existing is None:
        variable = await envs.variables.create(environment_id, key=key, value=value)
    else:
        variable = await envs.variables.update(environment_id, existing.id, value=value)
    return Part(id=variable.id, name=variable.key, value=mask(value))


@tools.tool(title="Set environment file", read_only=False, destructive=False, idempotent=True)
async def set_environment_file(
    ctx: ToolContext,
    environment_id: EnvironmentId,
    path: Annotated[str, Field(min_length=1, max_length=500, description="Where it goes, e.g. ~/AGENTS.md")],
    content: Annotated[str, Field(max_length=65_536, description="At most 64 KB")],
    name: Annotated[str | None, Field(max_length=200, description="Label; default: the file name")] = None,
) -> Part:
    """Create or replace (by path) a file placed in every new replica of the environment."""
    envs = client_of(ctx).environments
    existing = next((f for f in await envs.files.list(environment_id) if f.path == path), None)
    label = name or posixpath.basename(path) or path
    if existing is None:
        file = await envs.files.create(environment_id, name=label, path=path, content=content)
    else:
        file = await envs.files.update(environment_id, existing.id, name=name, content=content)
    return Part(id=file.id, name=file.path, value=mask(content))


@tools.tool(title="Set environment MCP", read_only=False, destructive=False, idempotent=True)
async def set_environment_mcp(
    ctx: ToolContext,
    environment_id: EnvironmentId,
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")],
    transport: Literal["stdio", "http", "sse"],
    config: Annotated[
        dict[str, Any], Field(description="stdio: {command, args, env}; http/sse: {url, headers}")
    ],
) -> Mcp:
    """Create or replace (by name) an MCP server for the agents of the environment's replicas."""
    envs = client_of(ctx).environments
    existing = next((m for m in await envs.mcps.list(environment_id) if m.name == name), None)
    if existing is None:
        mcp = await envs.mcps.create(environment_id, name=name, transport=transport, config=config)
    else:
        mcp = await envs.mcps.update(environment_id, existing.id, transport=transport, config=config)
    return _mcp_view(mcp, reveal=False)


@tools.tool(title="Search skills", read_only=True)
async def search_skills(
    ctx: ToolContext, query: Annotated[str, Field(min_length=1, max_length=200)]
) -> SkillHits:
    """Search the skills.sh catalog. Next: enable_environment_skill with a hit."""
    hits = await client_of(ctx).environments.skills.search(query)
    return SkillHits(skills=[SkillHit(name=h.name, slug=h.slug, source=h.source) for h in hits])


@tools.tool(title="Enable skill", read_only=False, destructive=False, idempotent=False)
async def enable_environment_skill(
    ctx: ToolContext,
    environment_id: EnvironmentId,
    name: str,
    slug: str,
    source: Annotated[str, Field(description="Catalog URL from search_skills")],
) -> Part:
    """Give the agents of an environment's new replicas a catalog skill."""
    skill = await client_of(ctx).environments.skills.enable(
        environment_id, name=name, slug=slug, source=source
    )
    return Part(id=skill.id, name=skill.slug)


@tools.tool(title="Add skill registry", read_only=False, destructive=False, idempotent=False)
async def add_skill_registry(
    ctx: ToolContext,
    environment_id: EnvironmentId,
    url: Annotated[str, Field(pattern=r"^https://", description="GitHub repository URL")],
) -> Part:
    """Install the skills of a GitHub repository into the environment's replicas."""
    registry = await client_of(ctx).environments.skill_registries.add(environment_id, url=url)
    return Part(id=registry.id, name=registry.url)


@tools.tool(title="Remove environment item", read_only=False, destructive=True, idempotent=True)
async def remove_environment_item(
    ctx: ToolContext,
    environment_id: EnvironmentId,
    kind: ItemKind,
    item: Annotated[
        str, Field(min_length=1, description="Its id, or variable key / file path / skill slug / MCP name")
    ],
) -> Done:
    """Remove a variable, file, skill, skill registry or MCP from an environment."""
    envs = client_of(ctx).environments
    remove: Callable[[str, str], Awaitable[None]]
    if kind == "variable":
        found = [v.id for v in await envs.variables.list(environment_id) if item in (v.id, v.key)]
        remove = envs.variables.delete
    elif kind == "file":
        found = [f.id for f in await envs.files.list(environment_id) if item in (f.id, f.path, f.name)]
        remove = envs.files.delete
    elif kind == "skill":
        found = [s.id for s in await envs.skills.list(environment_id) if item in (s.id, s.slug, s.name)]
        remove = envs.skills.disable
    elif kind == "registry":
        found = [r.id for r in await envs.skill_registries.list(environment_id) if item in (r.id, r.url)]
        remove = envs.skill_registries.remove
    else:
        found = [m.id for m in await envs.mcps.list(environment_id) if item in (m.id, m.name)]
        remove = envs.mcps.delete
    if not found:
        raise ToolError(
            f"No {kind} {item!r} in environment {environment_id} (already removed?). "
            f"See get_environment with include=['{_SECTION_OF[kind]}']."
        )
    await remove(environment_id, found[0])
    return Done(id=found[0], message=f"Removed {kind} {item!r} from environment {environment_id}.")


@tools.tool(
    title="Test or save environment hook",
    read_only=False,
    destructive=True,
    idempotent=True,
    timeout=HOOK_TIMEOUT,
)
async def run_environment_hook(
    ctx: ToolContext,
    environment_id: EnvironmentId,
    hook: HookKind,
    content: Script,
    save: Annotated[
        Literal["no", "if_passes", "always"], Field(description="no: test only; always: save untested")
    ] = "no",
) -> HookOutcome:
    """Test a warm/start hook script in a fresh sandbox (minutes; output streams as progress), and
    save it if asked. Returns exit code, output tail, saved."""
    envs = client_of(ctx).environments
    if save == "always":
        if hook == "warm":
            await envs.warm_hooks.save(environment_id, content)
        else:
            await envs.start_hooks.save(environment_id, content)
        return HookOutcome(hook=hook, passed=None, saved=True, output="(saved without a test run)")
    if hook == "warm":
        mode: Literal["save_test", "test_only"] = "save_test" if save == "if_passes" else "test_only"
        stream = envs.warm_hooks.stream(environment_id, content, mode=mode)
    else:
        stream = envs.start_hooks.stream_test(environment_id, content)
    final, output = await _hook_run(ctx, stream)
    if final is None or final.event == "error":
        problem = (final.message if final else None) or "the stream ended without a result"
        raise ToolError(f"The {hook} hook test could not run: {clean_text(problem)}. Retry later.")
    passed = final.exit_code == 0 and not final.timed_out
    saved = False
    if save == "if_passes" and hook == "warm":
        saved = final.warm_hook is not None  # the complete event carries the record it saved
    elif save == "if_passes" and passed:
        await envs.start_hooks.save(environment_id, content)  # the API has no start-hook save-and-test
        saved = True
    return _outcome(hook, final.exit_code, final.timed_out, saved, output, environment_id)


@tools.tool(title="Set warm pool", read_only=False, destructive=False, idempotent=True)
async def set_warm_pool(ctx: ToolContext, environment_id: EnvironmentId, enabled: bool) -> HookState:
    """Turn an environment's warm pool (pre-booted workspaces) on or off."""
    pool = await client_of(ctx).environments.warm_pool.set(environment_id, enabled=enabled)
    return HookState(warm_pool_enabled=pool.enabled, warm_pool_ready=pool.ready_count)
