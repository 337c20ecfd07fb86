"""What the environment tools ask before a change to what future replicas of an environment will run, and
the checks that fail a call before anyone is asked.

Every question names the environment by name and id and, for a replacement, shows what is there now and
what it becomes; secret values are masked (variables show only their length, files their size, MCP configs
their masked shape: for an MCP, exactly the merged config the client will send, so stored headers kept or
dropped show as such). A call that replaces nothing (a new variable, file or MCP; a test-only hook run) asks
nothing. Before asking, a question reads the environment, which fails a call on one that does not exist,
and checks the arguments the call needs.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from mcp.server.mcpserver.exceptions import ToolError

from replicas_mcp.server.safety import clean_text, mask, mask_mcp_config, truncate
from replicas_mcp.server.tools import PendingCall, named

if TYPE_CHECKING:
    from replicas_mcp.client.models import Environment

_SHOWN = 160  # how much of a system prompt a question shows, before and after
# Where get_environment shows each kind of item.
SECTION_OF: dict[str, str] = {
    "variable": "variables",
    "file": "files",
    "skill": "skills",
    "registry": "registries",
    "mcp": "mcps",
}


# What each kind of set_environment_item needs besides its name.
_NEEDS: dict[str, tuple[str, ...]] = {
    "variable": ("value",),
    "file": ("value",),
    "mcp": ("transport", "config"),
    "skill": ("source",),
}


def _size(text: str | None) -> str:
    text = text or ""
    return f"{len(text)} characters, {len(text.splitlines())} lines"


def _shown(text: str | None) -> str:
    return repr(truncate(clean_text(text or ""), _SHOWN)) if text else "(none)"


def _mcp_shape(transport: Any, config: Any) -> str:
    shown = {"transport": transport, **mask_mcp_config(dict(config or {}))}
    return json.dumps(shown, separators=(",", ":"), ensure_ascii=False)


async def ask_set_item(call: PendingCall) -> str | None:
    """Replacing an existing variable, file or MCP server changes every future replica: ask, with the
    before and after. Skills and registries are only ever added (an existing one is left as it is)."""
    kind, name = call.arguments["kind"], call.arguments["name"]
    for needed in _NEEDS.get(kind, ()):
        if call.arguments.get(needed) is None:
            raise ToolError(f"kind={kind!r} needs {needed}.")
    env = await _environment(call)
    envs, where = call.client.environments, f"environment {named(env.name, env.id)}"
    if kind == "variable":
        old_var = next((v for v in await envs.variables.list(env.id) if v.key == name), None)
        if old_var is None:
            return None
        return (
            f"Replace variable {call.quote('name')} of {where}? Every new replica gets the new value. "
            f"Now: {mask(old_var.value)}; after: {mask(call.arguments.get('value') or '')}."
        )
    if kind == "file":
        old_file = next((f for f in await envs.files.list(env.id) if f.path == name), None)
        if old_file is None:
            return None
        return (
            f"Replace file {call.quote('name')} of {where}? Every new replica gets the new content. "
            f"Now: {_size(old_file.content)}; after: {_size(call.arguments.get('value'))} "
            "(contents not shown)."
        )
    if kind == "mcp":
        old_mcp = next((m for m in await envs.mcps.list(env.id) if m.name == name), None)
        if old_mcp is None:
            return None
        stored = old_mcp.config.model_dump(mode="json")
        transport = call.arguments["transport"]
        # What the client will send: the given fields over the stored ones (it raises, as the call would,
        # when the config does not fit the transport).
        sent = envs.mcps.planned_config(old_mcp, transport, call.arguments["config"])
        dropped = [key for key in ("headers", "args", "env") if stored.get(key) and not sent.get(key)]
        lost = f" Stored {' and '.join(dropped)} are not kept (a new target)." if dropped else ""
        return (
            f"Replace MCP server {call.quote('name')} of {where}? Every new replica connects to the new "
            f"one. Now: {_mcp_shape(old_mcp.transport, stored)}; after: {_mcp_shape(transport, sent)}.{lost}"
        )
    return None


async def ask_save_environment(call: PendingCall) -> str | None:
    """Changing an existing environment's system prompt changes what every future agent is told."""
    prompt = call.arguments.get("system_prompt")
    if call.arguments.get("environment_id") is None or prompt is None:
        return None
    current = await _environment(call)
    if current.is_global:
        raise ToolError(
            "The Global environment's own fields (system prompt, name, description) cannot be changed, "
            "only what it carries: use set_environment_item or remove_environment_item."
        )
    if (current.system_prompt or "") == prompt:
        return None
    return (
        f"Change the system prompt of environment {named(current.name, current.id)}? Every new replica's "
        f"agent gets it. Now: {_shown(current.system_prompt)}; after: {_shown(prompt)}."
    )


async def ask_remove(call: PendingCall) -> str | None:
    """Removing an item or deleting the environment: checked first (an environment an automation still
    uses fails; an item that is not there asks nothing, the removal being already done), then asked."""
    kind, item = call.arguments["kind"], call.arguments.get("item")
    if kind != "environment" and not item:
        raise ToolError(f"kind={kind!r} needs item: its id or name (see get_environment).")
    current = await _environment(call)
    env_id, env = current.id, named(current.name, current.id)
    if kind == "environment":
        if current.is_global:
            raise ToolError(
                "The Global environment cannot be deleted. Remove what it carries instead "
                "(remove_environment_item with another kind)."
            )
        users = [a async for a in call.client.automations.iter() if a.environment_id == env_id]
        if users:
            listed = ", ".join(named(a.name, a.id) for a in users[:5])
            raise ToolError(
                f"Environment {env} is used by {len(users)} automation(s): {listed}. Delete them or point "
                "them at another environment first (save_automation with environment_id), then retry."
            )
        return f"Delete environment {env} with its variables, files, MCPs and hooks?"
    assert item is not None  # checked above
    if not await _has_item(call, kind, env_id, item):
        return None  # nothing to remove, nothing to ask: the tool says it was already absent
    return f"Remove {call.quote('kind')} {call.quote('item')!r} from environment {env}?"


def already_absent(kind: str, environment: str) -> str:
    """The result of removing what is not there (the item is not repeated: a wrong value may be a secret)."""
    return (
        f"No {kind} with that name or id in environment {environment}: already absent, nothing was removed. "
        f"get_environment with include=['{SECTION_OF[kind]}'] lists what is there."
    )


async def _has_item(call: PendingCall, kind: str, env_id: str, item: str) -> bool:
    envs = call.client.environments
    if kind == "variable":
        return any(item in (v.id, v.key) for v in await envs.variables.list(env_id))
    if kind == "file":
        return any(item in (f.id, f.path, f.name) for f in await envs.files.list(env_id))
    if kind == "skill":
        return any(item in (s.id, s.slug, s.name) for s in await envs.skills.list(env_id))
    if kind == "registry":
        return any(item in (r.id, r.url) for r in await envs.skill_registries.list(env_id))
    return any(item in (m.id, m.name) for m in await envs.mcps.list(env_id))


async def ask_save_hook(call: PendingCall) -> str | None:
    """Saving a hook replaces the script every future workspace runs; a test run saves nothing."""
    save = call.arguments.get("save", "no")
    if save == "no":
        return None
    env = await _environment(call)
    when = " if the test run passes?" if save == "if_passes" else " without testing it?"
    return (
        f"Save this {call.quote('hook')} hook to environment {named(env.name, env.id)}, replacing the "
        f"current one{when} New script: {_size(call.arguments.get('content'))}."
    )


async def _environment(call: PendingCall) -> Environment:
    """The environment the call is about (a call on one that does not exist fails here, unasked)."""
    return await call.client.environments.get(call.arguments["environment_id"])
