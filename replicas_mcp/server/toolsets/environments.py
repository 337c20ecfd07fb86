"""Environments: what every new replica gets (repository binding, variables, files, skills, MCPs, hooks).

Consolidated to keep the surface small: one `get_environment` reads any parts; `save_environment` creates
or changes an environment (warm pool included); `set_environment_item` adds or replaces any part by its
natural key (variable key, file path, MCP name, skill slug, registry URL); `remove_environment_item` removes
any part, or the environment itself; hook tests take `hook="warm"|"start"`. Secret values stay masked unless
`reveal=true` on a writable server.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from replicas_mcp.client.errors import ConflictError
from replicas_mcp.server.args import ENVIRONMENT, EnvironmentId, Id, Reveal
from replicas_mcp.server.safety import (
    WORKSPACE,
    clean_text,
    fence,
    mask,
    mask_mcp_config,
    mask_text,
    may_reveal,
    truncate,
)
from replicas_mcp.server.state import ToolContext, app_state, client_of
from replicas_mcp.server.tools import ToolGroup
from replicas_mcp.server.toolsets.environment_questions import (
    already_absent,
    ask_remove,
    ask_save_environment,
    ask_save_hook,
    ask_set_item,
)
from replicas_mcp.server.toolsets.environment_results import (
    EnvironmentSummary,
    EnvironmentView,
    HookOutcome,
    Part,
    RepoSet,
    RepositorySetList,
    SetPart,
    SkillHit,
    SkillHits,
)
from replicas_mcp.server.views import Done, preview

if TYPE_CHECKING:
    from replicas_mcp.client import ReplicasClient
    from replicas_mcp.client.models.environments import Environment, EnvironmentMcp, HookStreamEvent

tools = ToolGroup("environments")

Section = Literal["variables", "files", "mcps", "skills", "registries", "hooks"]
SetKind = Literal["variable", "file", "mcp", "skill", "registry"]
ItemKind = Literal["variable", "file", "mcp", "skill", "registry", "environment"]
HookKind = Annotated[Literal["warm", "start"], Field(description="warm: pre-warm script; start: boot script")]
Script = Annotated[
    str, Field(max_length=65_536, description="Shell script, e.g. '#!/usr/bin/env bash\\n...'")
]


VARIABLE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,199}")
MCP_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
REGISTRY_URL = re.compile(r"https://\S+")
T = TypeVar("T")

HOOK_TIMEOUT = 900.0  # a hook test provisions a sandbox and runs the script: minutes, not seconds
OUTPUT_TAIL = 4000  # hook output shown: its end, where the failure usually is
SYSTEM_PROMPT_LIMIT = 2000


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


def _mcp_part(mcp: EnvironmentMcp, reveal: bool) -> Part:
    config = mcp.config.model_dump(mode="json")
    shown = {"transport": mcp.transport, **(config if reveal else mask_mcp_config(config))}
    return Part(kind="mcp", id=mcp.id, name=mcp.name, value=json.dumps(shown, separators=(",", ":")))


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
    parts: list[Part] = []
    if "variables" in include:
        parts += [
            Part(kind="variable", id=v.id, name=v.key, value=v.value if reveal else mask(v.value))
            for v in await envs.variables.list(env_id)
        ]
    if "files" in include:
        parts += [
            Part(kind="file", id=f.id, name=f.path, value=f.content if reveal else mask(f.content))
            for f in await envs.files.list(env_id)
        ]
    if "mcps" in include:
        parts += [_mcp_part(m, reveal) for m in await envs.mcps.list(env_id)]
    if "skills" in include:
        parts += [Part(kind="skill", id=s.id, name=s.slug) for s in await envs.skills.list(env_id)]
    if "registries" in include:
        parts += [
            Part(kind="registry", id=r.id, name=r.url) for r in await envs.skill_registries.list(env_id)
        ]
    if include - {"hooks"}:
        view.parts = parts
    if "hooks" in include:
        warm = await envs.warm_hooks.get(env_id)
        start = await envs.start_hooks.get(env_id)
        shown = (lambda script: script) if reveal else mask_text  # scripts carry tokens (`_authToken=…`)
        view.warm_hook = shown(warm.warm_hook.content) if warm.warm_hook else None
        view.warm_pool = warm.warm_pool.enabled if warm.warm_pool else None
        view.start_hook = shown(start.start_hook.content) if start.start_hook else None
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
            if event.event == "output" and event.output and event.output.strip():
                # The script's own words: fenced like every other text the workspace writes.
                # Masked like the scripts: one that echoes its tokens (`set -x`, `env`) must not show them.
                line = fence(truncate(mask_text(event.output.strip()), 200), "hook test output", by=WORKSPACE)
                await ctx.report_progress(step, None, line)
            elif event.event == "progress" and event.message:
                await ctx.report_progress(step, None, truncate(clean_text(event.message).strip(), 200))
            if event.is_terminal:
                if event.output and event.event != "output":
                    output.append(event.output)
                return event, "".join(output)
    return None, "".join(output)


def _outcome(
    hook: str, exit_code: int | None, timed_out: bool | None, saved: bool, output: str, env: str
) -> HookOutcome:
    passed = exit_code == 0 and not timed_out
    output = mask_text(output)  # as the progress lines: scripts' output can carry their secrets
    tail = output[-OUTPUT_TAIL:]
    if len(output) > OUTPUT_TAIL:
        tail = f"[… {len(output) - OUTPUT_TAIL} earlier chars omitted]\n{tail}"
    return HookOutcome(
        hook=hook,
        exit_code=exit_code,
        timed_out=timed_out,
        passed=passed,
        saved=saved,
        output=fence(tail, f"{hook} hook test output in environment {env}", by=WORKSPACE)
        if output
        else "(no output)",
    )


# --- tools --------------------------------------------------------------------------------------------


@tools.tool(title="Get environment", read_only=True)
async def get_environment(
    ctx: ToolContext,
    environment_id: EnvironmentId,
    include: Annotated[list[Section], Field(description="Parts to add")] = [],  # noqa: B006 (pydantic copies)
    reveal: Reveal = False,
) -> EnvironmentView:
    """An environment's binding and system prompt, plus the parts in include (secrets masked). Next:
    set_environment_item, remove_environment_item."""
    show, note = _reveal(ctx, reveal)
    view = await environment_view(client_of(ctx), environment_id, set(include), reveal=show)
    view.note = note
    return view


@tools.tool(
    title="Save environment",
    read_only=False,
    destructive=True,
    idempotent=False,
    confirm=ask_save_environment,
)
async def save_environment(
    ctx: ToolContext,
    environment_id: Annotated[Id | None, ENVIRONMENT, Field(description="Omit to create one")] = None,
    name: Annotated[str | None, Field(min_length=1, max_length=100, description="Needed to create")] = None,
    repository_id: Annotated[Id | None, Field(description="From list_repositories")] = None,
    repository_set_id: Annotated[Id | None, Field(description="Or from list_repository_sets")] = None,
    description: str | None = None,
    system_prompt: Annotated[str | None, Field(description="Standing instructions for agents")] = None,
    warm_pool: Annotated[bool | None, Field(description="Keep pre-booted workspaces")] = None,
) -> EnvironmentSummary:
    """Create an environment (no environment_id), or change the fields given. Next:
    set_environment_item, delegate_task."""
    envs = client_of(ctx).environments
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
    if environment_id is None:
        if name is None:
            raise ToolError("Creating an environment needs a name (or pass environment_id to change one).")
        try:
            env = await envs.create(**fields)
        except ConflictError:
            existing = next((env for env in await envs.list() if env.name == name), None)
            if existing is None:
                raise
            raise ToolError(
                f"An environment named {name!r} exists already: {existing.id}. Pass "
                f"environment_id={existing.id!r} to change it, or choose another name."
            ) from None
    elif fields:
        env = await envs.update(environment_id, **fields)
    elif warm_pool is None:
        raise ToolError("Nothing to change: pass a field such as name, system_prompt or warm_pool.")
    else:
        env = await envs.get(environment_id)
    summary = EnvironmentSummary.of(env)
    if warm_pool is not None:
        summary.warm_pool = (await envs.warm_pool.set(env.id, enabled=warm_pool)).enabled
    return summary


@tools.tool(title="List repository sets", read_only=True)
async def list_repository_sets(ctx: ToolContext) -> RepositorySetList:
    """Repository sets (named groups of repositories) an environment can bind to."""
    sets = await client_of(ctx).repositories.list_sets()
    return RepositorySetList(
        sets=[RepoSet(id=s.id, name=s.name, repos=[r.name for r in s.repositories]) for s in sets]
    )


@tools.tool(
    title="Set environment item", read_only=False, destructive=True, idempotent=True, confirm=ask_set_item
)
async def set_environment_item(
    ctx: ToolContext,
    environment_id: EnvironmentId,
    kind: SetKind,
    name: Annotated[
        str,
        Field(
            min_length=1,
            max_length=500,
            description="Variable key, file path, MCP name, skill slug or repo URL",
        ),
    ],
    value: Annotated[
        str | None, Field(max_length=65_536, description="Variable value or file content")
    ] = None,
    transport: Literal["stdio", "http", "sse"] | None = None,
    config: Annotated[
        dict[str, Any] | None, Field(description="MCP: {command, args, env} or {url, headers}")
    ] = None,
    source: Annotated[str | None, Field(description="Skill: its source from search_skills")] = None,
) -> SetPart:
    """Add or replace (by name) what every new replica of the environment gets: a variable, a file
    (e.g. ~/AGENTS.md), an MCP server, a catalog skill or a skill registry (GitHub repo). replaced=true:
    it existed (was: its masked value)."""
    envs = client_of(ctx).environments
    env_id = environment_id

    if kind == "variable":
        content = _needs(kind, "value", value)
        _check(name, VARIABLE_KEY, "a variable key is letters, digits and _, not starting with a digit")
        old_var = next((v for v in await envs.variables.list(env_id) if v.key == name), None)
        if old_var is None:
            var = await envs.variables.create(env_id, key=name, value=content)
        else:
            var = await envs.variables.update(env_id, old_var.id, value=content)
        part = Part(kind=kind, id=var.id, name=var.key, value=mask(content))
        return _set(part, mask(old_var.value) if old_var else None)
    if kind == "file":
        content = _needs(kind, "value", value)
        old_file = next((f for f in await envs.files.list(env_id) if f.path == name), None)
        if old_file is None:
            label = posixpath.basename(name) or name
            file = await envs.files.create(env_id, name=label, path=name, content=content)
        else:
            file = await envs.files.update(env_id, old_file.id, content=content)
        part = Part(kind=kind, id=file.id, name=file.path, value=mask(content))
        return _set(part, mask(old_file.content) if old_file else None)
    if kind == "mcp":
        via = _needs(kind, "transport", transport)
        settings = _needs(kind, "config", config)
        _check(name, MCP_NAME, "an MCP name is letters, digits, _ and -, at most 64")
        old_mcp = next((m for m in await envs.mcps.list(env_id) if m.name == name), None)
        if old_mcp is None:
            mcp = await envs.mcps.create(env_id, name=name, transport=via, config=settings)
        else:
            mcp = await envs.mcps.update(env_id, old_mcp.id, transport=via, config=settings)
        return _set(_mcp_part(mcp, reveal=False), _mcp_part(old_mcp, reveal=False).value if old_mcp else None)
    if kind == "skill":
        origin = _needs(kind, "source", source)
        old_skill = next((x for x in await envs.skills.list(env_id) if x.slug == name), None)
        skill = old_skill or await envs.skills.enable(env_id, name=name, slug=name, source=origin)
        return _kept(Part(kind=kind, id=skill.id, name=skill.slug), existed=old_skill is not None)
    _check(name, REGISTRY_URL, "a skill registry is a GitHub repository URL (https://...)")
    old_reg = next((r for r in await envs.skill_registries.list(env_id) if r.url == name), None)
    registry = old_reg or await envs.skill_registries.add(env_id, url=name)
    return _kept(Part(kind=kind, id=registry.id, name=registry.url), existed=old_reg is not None)


def _set(part: Part, was: str | None) -> SetPart:
    """A set item's result; `was`: the masked value it replaced, None when it created the item. A replaced
    item is the team's: saying so keeps a later "remove what I created" from deleting it."""
    result = SetPart(**part.model_dump())
    if was is not None:
        result.replaced, result.was = True, was
        result.note = (
            f"Replaced the existing {part.kind} {clean_text(part.name)!r} (was {was or 'empty'}); it was "
            "there before this call, so removing it deletes it for everyone."
        )
    return result


def _kept(part: Part, *, existed: bool) -> SetPart:
    """Skills and registries are only added: one already there is left as it was."""
    result = SetPart(**part.model_dump())
    if existed:
        result.note = (
            f"The {part.kind} {clean_text(part.name)!r} was already here and is unchanged; it was there "
            "before this call, so removing it removes it for everyone."
        )
    return result


def _needs(kind: str, arg: str, value: T | None) -> T:
    if value is None:
        raise ToolError(f"kind={kind!r} needs {arg}.")
    return value


def _check(value: str, pattern: re.Pattern[str], rule: str) -> None:
    if not pattern.fullmatch(value):  # the value is not repeated: it may be a secret pasted by mistake
        raise ToolError(f"name is not accepted: {rule}.")


@tools.tool(title="Search skills", read_only=True)
async def search_skills(
    ctx: ToolContext, query: Annotated[str, Field(min_length=1, max_length=200)]
) -> SkillHits:
    """Search the skills.sh catalog. Next: set_environment_item(kind=skill, name=slug, source)."""
    hits = await client_of(ctx).environments.skills.search(query)
    return SkillHits(skills=[SkillHit(name=h.name, slug=h.slug, source=h.source) for h in hits])


@tools.tool(
    title="Remove environment item", read_only=False, destructive=True, idempotent=True, confirm=ask_remove
)
async def remove_environment_item(
    ctx: ToolContext,
    environment_id: EnvironmentId,
    kind: ItemKind,
    item: Annotated[
        str | None, Field(description="Its id or name (as set_environment_item); not for environment")
    ] = None,
) -> Done:
    """Remove a variable, file, skill, skill registry or MCP, or with kind=environment delete the whole
    environment (not Global, nor one an automation uses). Already absent: success, nothing done."""
    envs = client_of(ctx).environments
    if kind != "environment" and not item:
        raise ToolError(f"kind={kind!r} needs item: its id or name (see get_environment).")
    env = await envs.get(environment_id)
    named = f"{clean_text(env.name)} ({env.id})"  # results name it beside its id
    if kind == "environment" or not item:
        await envs.delete(environment_id)
        return Done(message=f"Environment {named} deleted.")
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
    if not found:  # idempotent, as annotated: a repeat (a retry after a timeout) succeeds
        return Done(message=already_absent(kind, named))
    await remove(environment_id, found[0])
    return Done(message=f"Removed {kind} {item!r} from environment {named}.")


@tools.tool(
    title="Test or save environment hook",
    read_only=False,
    destructive=True,
    idempotent=True,
    timeout=HOOK_TIMEOUT,
    confirm=ask_save_hook,
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
    """Test a warm or start hook script in a fresh sandbox (minutes; output streams as progress) and
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
        said = fence(truncate(mask_text(problem), 300), "hook test error", by=WORKSPACE)
        raise ToolError(f"The {hook} hook test could not run. Retry later. What it said:\n{said}")
    passed = final.exit_code == 0 and not final.timed_out
    saved = False
    if save == "if_passes" and hook == "warm":
        saved = final.warm_hook is not None  # the complete event carries the record it saved
    elif save == "if_passes" and passed:
        await envs.start_hooks.save(environment_id, content)  # the API has no start-hook save-and-test
        saved = True
    return _outcome(hook, final.exit_code, final.timed_out, saved, output, environment_id)
